"""`python -m bench.checks`: 10 column rules over 5M rows, through the quality gate's evaluator,
against one hand-written polars pass over the same predicates (target: at most 1.2x)."""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl
from tabulate import tabulate

from bench.generate import ensure_inputs
from checks.evaluate import count_failures
from checks.rules import compile_checks
from platform_assets.config.checks import TableChecks

STATUSES = ["paid", "shipped", "cancelled", "refunded"]
COUNTRIES = ["FR", "DE", "ES", "IT", "NL"]
EMAIL = r"^customer-\d+@example\.com$"

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


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    _, parquet = ensure_inputs(5_000_000)
    frame = pl.read_parquet(parquet)
    compiled = compile_checks(CHECKS)
    ours = {k: v.failures for k, v in count_failures(compiled, [frame], keep_rows=False).items()}
    assert ours == hand_written(frame), (ours, hand_written(frame))
    base = best_of(5, lambda: hand_written(frame))
    gate = best_of(5, lambda: count_failures(compiled, [frame], keep_rows=False))
    verdict = "ok" if gate / base <= 1.2 else "OVER 1.2x"
    print(
        tabulate(
            [
                ["hand-written polars", f"{base:.3f}", "1.00x", ""],
                ["pandera rules, one pass", f"{gate:.3f}", f"{gate / base:.2f}x", verdict],
            ],
            headers=[f"{frame.height:,} rows, 10 rules", "seconds", "ratio", "target"],
        )
    )


if __name__ == "__main__":
    main()
