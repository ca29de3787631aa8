"""`python -m bench.checks`: the quality gate on 5M rows with 10 column rules, some of them
failing, against a hand-written DuckDB query that finds the same things (target: at most 1.2x).

The gate is timed whole, as the writer calls it: `QualityGate(...)(con, batch)` inside a
transaction, with `on_fail: quarantine_rows`, so that for every failing rule it counts the
failures, samples failing values and collects the failing rows' ids. The batch is the benchmark's
Parquet file as a DuckDB table (where the writer's batch lies), with one row in 2003 made to fail
each rule, spread over every row group.

The baseline finds the same three things per rule by hand: one scan returning the rows that fail
any rule, flagged per rule. It takes the gate's shortcut for the regex: judged once per distinct
email (5M rows hold about 250,000), its failing rows then found by value. Beside it, for
reference, two hand-written passes that only count: one DuckDB aggregate, and polars over the
rows already in memory. Each round times the baseline then the gate; the ratio is taken within
the round, and the median over rounds is reported beside each round's own."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
from tabulate import tabulate

from bench.generate import ensure_inputs
from checks.gate import QualityGate, Verdict
from checks.rules import compile_checks
from platform_assets.config.base import TableConfig
from platform_assets.config.checks import TableChecks

STATUSES = ["paid", "shipped", "cancelled", "refunded"]
COUNTRIES = ["FR", "DE", "ES", "IT", "NL"]
EMAIL = r"^customer-\d+@example\.com$"
ROWS = 5_000_000
TARGET = 1.2
EVERY = 2003
"""One row in this many fails each rule (each rule its own rows)."""

CHECKS = TableChecks.model_validate(
    {
        "columns": {
            "id": {"nullable": False},
            "customer_id": {"min": 0},
            "quantity": {"min": 0, "max": 99_999},
            "amount": {"min": 0},
            "weight": {"max": 1000},
            "status": {"isin": STATUSES},
            "email": {"regex": EMAIL},
            "reference": {"str_length": {"min": 16, "max": 16}},
            "country": {"isin": COUNTRIES},
        }
    }
)

_BROKEN = {
    # rule: (its column, the remainder of `id % EVERY` of the rows that fail it, their value)
    "id_not_null": ("id", 1, "NULL"),
    "customer_id_min": ("customer_id", 2, "-1 - customer_id"),
    "quantity_min": ("quantity", 3, "-7"),
    "quantity_max": ("quantity", 4, "100000"),
    "amount_min": ("amount", 5, "(-0.01 - amount)::DECIMAL(12, 2)"),
    "weight_max": ("weight", 6, "1000.5"),
    "status_isin": ("status", 7, "'lost'"),
    "email_regex": ("email", 8, "'customer-' || (id % 100) || '@example,com'"),
    "reference_str_length": ("reference", 9, "md5(id::VARCHAR)[:17]"),
    "country_isin": ("country", 10, "'XX'"),
}


def batch_sql(parquet: Path) -> str:
    """The benchmark's rows with the failing ones of `_BROKEN` written in."""
    replaced: dict[str, str] = {}
    for column, remainder, value in _BROKEN.values():
        inner = replaced.get(column, column)
        replaced[column] = f"CASE WHEN id % {EVERY} = {remainder} THEN {value} ELSE {inner} END"
    replace = ", ".join(f"{sql} AS {column}" for column, sql in replaced.items())
    return f"SELECT * REPLACE ({replace}) FROM read_parquet('{parquet}')"


def expected_failures(rows: int) -> dict[str, int]:
    """How many rows fail each rule: those `_BROKEN` wrote in, and no others."""
    return {rule: len(range(r, rows, EVERY)) for rule, (_, r, _) in _BROKEN.items()}


@dataclass
class Found:
    """What either side finds for one rule: failing rows, a sample of values, their row ids."""

    failures: int
    samples: list[Any]
    row_ids: list[int]


def _failing_sql() -> dict[str, tuple[str, str]]:
    """The ten rules as (column, failure condition) in DuckDB SQL, the regex left out."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    countries = ", ".join(f"'{c}'" for c in COUNTRIES)
    return {
        "id_not_null": ("id", "id IS NULL"),
        "customer_id_min": ("customer_id", "customer_id < 0"),
        "quantity_min": ("quantity", "quantity < 0"),
        "quantity_max": ("quantity", "quantity > 99999"),
        "amount_min": ("amount", "amount < 0"),
        "weight_max": ("weight", "weight > 1000"),
        "status_isin": ("status", f"status NOT IN ({statuses})"),
        "email_regex": ("email", f"NOT regexp_matches(email, '{EMAIL}')"),
        "reference_str_length": ("reference", "length(reference) <> 16"),
        "country_isin": ("country", f"country NOT IN ({countries})"),
    }


def hand_written_sql(con: duckdb.DuckDBPyConnection) -> dict[str, Found]:
    """Each rule's failing rows by hand, in two queries. One scan returns every row failing any
    rule but the regex (the filter pushed into the scan), flagged per rule; the regex is judged
    once per distinct email, its failing rows then found by value. Each rule then takes its
    count, first five values and row ids from those rows. (A filtered scan per rule instead
    took three times as long.)"""
    rules = _failing_sql()
    regex_column, regex = rules.pop("email_regex")
    columns = sorted({column for column, _ in rules.values()})
    flags = ", ".join(
        f'coalesce({condition}, false) AS "{name}"' for name, (_, condition) in rules.items()
    )
    any_fails = " OR ".join(condition for _, condition in rules.values())
    failing = con.execute(
        f"SELECT rowid, {', '.join(columns)}, {flags} FROM orders WHERE {any_fails}"
    ).pl()
    found = {}
    for name, (column, _) in rules.items():
        rows = failing.filter(pl.col(name))
        found[name] = Found(rows.height, rows[column].head(5).to_list(), rows["rowid"].to_list())
    # The filter is an aggregate's, so it cannot be pushed back under the DISTINCT.
    by_value = con.execute(
        f"WITH failing AS (SELECT unnest(list({regex_column}) FILTER (WHERE {regex})) AS value "
        f"FROM (SELECT DISTINCT {regex_column} FROM orders)) SELECT rowid, {regex_column} "
        f"FROM orders WHERE {regex_column} IN (SELECT value FROM failing)"
    ).fetchall()
    found["email_regex"] = Found(
        len(by_value), [r[1] for r in by_value[:5]], [r[0] for r in by_value]
    )
    return found


def gate_found(verdict: Verdict) -> dict[str, Found]:
    """The gate's verdict in the baseline's terms."""
    row_ids: dict[str, list[int]] = {}
    for row, rules in verdict.quarantine.items():
        for rule in rules:
            row_ids.setdefault(rule, []).append(row)
    return {
        o.rule.name: Found(o.failures, o.samples, row_ids.get(o.rule.name, []))
        for o in verdict.outcomes
    }


def hand_written_aggregate(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts only: the ten predicates as one DuckDB aggregate, every row of every column read,
    the regex on every row."""
    fails = {name: condition for name, (_, condition) in _failing_sql().items()}
    sums = ", ".join(f"count(*) FILTER (WHERE {p})" for p in fails.values())
    row = con.execute(f"SELECT {sums} FROM orders").fetchone()
    assert row is not None
    return dict(zip(fails, map(int, row), strict=True))


def hand_written_polars(frame: pl.DataFrame) -> dict[str, int]:
    """Counts only: the ten predicates as one polars `select` over rows already in memory."""
    fails = {
        "id_not_null": pl.col("id").is_null(),
        "customer_id_min": pl.col("customer_id") < 0,
        "quantity_min": pl.col("quantity") < 0,
        "quantity_max": pl.col("quantity") > 99_999,
        "amount_min": pl.col("amount") < 0,
        "weight_max": pl.col("weight") > 1000,
        "status_isin": ~pl.col("status").is_in(STATUSES),
        "email_regex": ~pl.col("email").str.contains(EMAIL),
        "reference_str_length": pl.col("reference").str.len_chars() != 16,
        "country_isin": ~pl.col("country").is_in(COUNTRIES),
    }
    totals = frame.select([e.fill_null(False).sum().alias(n) for n, e in fails.items()])
    return {name: int(totals[name][0]) for name in fails}


T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """`work` inside a transaction, as the writer runs its gate."""
    con.begin()
    try:
        return work()
    finally:
        con.rollback()


def _require_same(gate: dict[str, Found], hand: dict[str, Found], rows: int) -> None:
    """Both sides found the same failures, and they are the ones written into the batch."""
    expected = expected_failures(rows)
    counts = {name: found.failures for name, found in gate.items()}
    if counts != {name: found.failures for name, found in hand.items()} or counts != expected:
        raise AssertionError(
            f"failures differ: gate {counts}, hand-written "
            f"{ {n: f.failures for n, f in hand.items()} }, written in {expected}"
        )
    for name, found in gate.items():
        if sorted(found.row_ids) != sorted(hand[name].row_ids):
            raise AssertionError(f"{name}: the gate and the baseline found different rows")
        if len(found.samples) != min(5, found.failures) or len(hand[name].samples) != len(
            found.samples
        ):
            raise AssertionError(f"{name}: samples {found.samples} and {hand[name].samples}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _, parquet = ensure_inputs(ROWS)
    table = TableConfig.model_validate(
        {"name": "orders", "checks": CHECKS.model_dump(by_alias=True), "on_fail": "quarantine_rows"}
    )
    gate = QualityGate("bench", table, compile_checks(CHECKS))
    with tempfile.TemporaryDirectory(prefix="tributary-bench-") as work:
        con = duckdb.connect(str(Path(work) / "checks.duckdb"), config={"memory_limit": "512MB"})
        con.execute(f"CREATE TABLE orders AS {batch_sql(parquet)}")
        rows = int(con.execute("SELECT count(*) FROM orders").fetchone()[0])  # type: ignore[index]
        frame = con.execute("SELECT * FROM orders").pl()
        ratios, base_seconds, gate_seconds = [], [], []
        for _ in range(args.rounds):
            hand, base = timed(lambda: in_transaction(con, lambda: hand_written_sql(con)))
            verdict, ours = timed(lambda: in_transaction(con, lambda: gate(con, "orders")))
            _require_same(gate_found(verdict), hand, rows)
            base_seconds.append(base)
            gate_seconds.append(ours)
            ratios.append(ours / base)
        counts = {name: found.failures for name, found in hand.items()}
        aggregate = _counted(lambda: hand_written_aggregate(con), counts, args.rounds)
        polars = _counted(lambda: hand_written_polars(frame), counts, args.rounds)
        con.close()
    base, ours, ratio = map(statistics.median, (base_seconds, gate_seconds, ratios))
    verdict_text = f"ok (≤ {TARGET}x)" if ratio <= TARGET else f"OVER (target ≤ {TARGET}x)"
    failing = sum(counts.values())
    lines = [
        [
            "hand-written DuckDB: failing rows in one scan, the regex per distinct value "
            "(counts, samples, row ids)",
            base,
            "1.00x",
            "",
            "",
        ],
        [
            "the whole gate: QualityGate(...)(con, batch), on_fail: quarantine_rows",
            ours,
            f"{ratio:.2f}x",
            verdict_text,
            " ".join(f"{r:.2f}" for r in ratios),
        ],
        ["counts only: hand-written DuckDB, one aggregate", aggregate, f"{aggregate / base:.2f}x"],
        ["counts only: hand-written polars, rows in memory", polars, f"{polars / base:.2f}x"],
    ]
    print(
        tabulate(
            [[name, f"{seconds:.3f}", *rest, "", ""][:5] for name, seconds, *rest in lines],
            headers=[
                f"{rows:,} rows, 10 rules, {failing:,} failures",
                "median s",
                "ratio",
                "target",
                "each round's ratio",
            ],
        )
    )
    mark = "" if ratio <= TARGET else "   <-- OVER"
    print(
        "the whole quality gate vs a hand-written DuckDB query finding the same failures, "
        f"samples and row ids: {ratio:.2f}x (target ≤ {TARGET}x){mark}"
    )


def _counted(work: Callable[[], dict[str, int]], expected: dict[str, int], rounds: int) -> float:
    """The median time of a counts-only pass, which must count what the gate counted."""
    times = []
    for _ in range(rounds):
        counts, seconds = timed(work)
        if counts != expected:
            raise AssertionError(f"counted {counts}, the gate {expected}")
        times.append(seconds)
    return statistics.median(times)


if __name__ == "__main__":
    main()
