"""`python -m bench.checks`: 10 column rules over 5M rows, through the quality gate's evaluator,
against the fastest hand-written query over the same predicates (target: at most 1.2x).

The gate judges a batch where it lies, in a DuckDB table, so its baseline is the fastest
hand-written DuckDB query over that table (a filtered count per rule). Beside it: one hand-written
aggregate, and one hand-written polars pass over the same rows already in memory (the export to
polars not counted)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
from tabulate import tabulate

from bench.generate import ensure_inputs
from checks.evaluate import count_failures
from checks.rules import compile_checks
from platform_assets.config.checks import TableChecks

STATUSES = ["paid", "shipped", "cancelled", "refunded"]
COUNTRIES = ["FR", "DE", "ES", "IT", "NL"]
EMAIL = r"^customer-\d+@example\.com$"
ROWS = 5_000_000

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


def hand_written(frame: pl.DataFrame) -> dict[str, int]:
    """The same ten predicates, written directly as one polars `select`."""
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


def _failing_sql() -> dict[str, str]:
    """The ten rules' failure conditions in DuckDB SQL."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    countries = ", ".join(f"'{c}'" for c in COUNTRIES)
    return {
        "id_not_null": "id IS NULL",
        "customer_id_min": "customer_id < 0",
        "quantity_min": "quantity < 0",
        "quantity_max": "quantity > 99999",
        "amount_min": "amount < 0",
        "weight_max": "weight > 1000",
        "status_isin": f"status NOT IN ({statuses})",
        "email_regex": f"NOT regexp_matches(email, '{EMAIL}')",
        "reference_str_length": "length(reference) <> 16",
        "country_isin": f"country NOT IN ({countries})",
    }


def hand_written_sql(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The same ten predicates as one DuckDB query, a filtered count per rule: each filter is
    pushed into the scan, where zone maps skip the row groups that cannot fail it."""
    counts = " UNION ALL ".join(
        f"SELECT '{name}', count(*) FROM orders WHERE {condition}"
        for name, condition in _failing_sql().items()
    )
    return {name: int(failures) for name, failures in con.execute(counts).fetchall()}


def hand_written_aggregate(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The same ten predicates as one DuckDB aggregate: one pass, but every row of every
    column is read."""
    fails = _failing_sql()
    sums = ", ".join(f"count(*) FILTER (WHERE {p})" for p in fails.values())
    row = con.execute(f"SELECT {sums} FROM orders").fetchone()
    assert row is not None
    return dict(zip(fails, map(int, row), strict=True))


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    _, parquet = ensure_inputs(ROWS)
    with tempfile.TemporaryDirectory(prefix="tributary-bench-") as work:
        con = duckdb.connect(str(Path(work) / "checks.duckdb"), config={"memory_limit": "512MB"})
        con.execute(f"CREATE TABLE orders AS SELECT * FROM read_parquet('{parquet}')")
        frame = con.execute("SELECT * FROM orders").pl()
        compiled = compile_checks(CHECKS)

        def gate() -> dict[str, int]:
            counts = count_failures(compiled, con, "orders", keep_rows=False, rows=ROWS)
            return {name: count.failures for name, count in counts.items()}

        assert gate() == hand_written_sql(con) == hand_written_aggregate(con) == hand_written(frame)
        ours = best_of(5, gate)
        sql = best_of(5, lambda: hand_written_sql(con))
        aggregate = best_of(5, lambda: hand_written_aggregate(con))
        polars = best_of(5, lambda: hand_written(frame))
        exported = best_of(3, lambda: hand_written(con.execute("SELECT * FROM orders").pl()))
        con.close()
    verdict = "ok" if ours / sql <= 1.2 else "OVER 1.2x"
    rows = [
        ["hand-written DuckDB, a filtered count per rule", sql, "1.00x", ""],
        ["gate: pandera rules, a DuckDB query per column", ours, f"{ours / sql:.2f}x", verdict],
        ["hand-written DuckDB, one aggregate", aggregate, f"{aggregate / sql:.2f}x", ""],
        ["hand-written polars, rows already in memory", polars, f"{polars / sql:.2f}x", ""],
        ["hand-written polars, exported from DuckDB", exported, f"{exported / sql:.2f}x", ""],
    ]
    print(
        tabulate(
            [[name, f"{seconds:.3f}", ratio, verdict] for name, seconds, ratio, verdict in rows],
            headers=[f"{frame.height:,} rows, 10 rules", "seconds", "ratio", "target"],
        )
    )


if __name__ == "__main__":
    main()
