"""Orders per product category and day for the next two weeks: a least-squares fit of a linear
trend and a day-of-week effect to each category's daily orders (cancelled ones left out), with
an 80% band from the fit's residuals. Run by the platform in its own process (Dagster Pipes);
it reads the Parquet exports of its inputs and writes its output as Parquet.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from dagster_pipes import PipesContext, open_dagster_pipes

MODEL = {
    "description": "Orders per product category and day, forecast for the next 14 days.",
    "inputs": ["webshop.orders", "inventory.products"],
    "outputs": [
        {
            "name": "category_order_forecast",
            "primary_key": ["category", "day"],
            "checks": {
                "columns": {
                    "category": {"nullable": False},
                    "orders": {"nullable": False, "min": 0},
                },
                "expressions": [
                    {"name": "band_holds_forecast", "expr": "low <= orders AND orders <= high"}
                ],
                "row_count": {"min": 1},
            },
        }
    ],
    "checks": {
        "enough_history": {"description": "every category has at least 28 days of orders"},
        "backtest_error": {
            "description": "on the last 14 days held out, the mean absolute error is under "
            "75% of the mean daily orders",
            "blocking": False,
        },
    },
}

HORIZON = 14
MIN_HISTORY = 28
Z_80 = 1.2816  # the 90th percentile of the standard normal: an 80% two-sided band


def daily_orders(orders: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """`category, day, orders`: every day from the first order to the last, zero-filled."""
    counted = (
        orders.filter(pl.col("status") != "cancelled")
        .join(products.select("product_id", "category"), on="product_id")
        .group_by("category", pl.col("placed_at").dt.date().alias("day"))
        .agg(pl.len().alias("orders"))
    )
    days = pl.date_range(counted["day"].min(), counted["day"].max(), eager=True).alias("day")
    grid = counted.select("category").unique().join(days.to_frame(), how="cross")
    return (
        grid.join(counted, on=["category", "day"], how="left")
        .with_columns(pl.col("orders").fill_null(0).cast(pl.Float64))
        .sort("category", "day")
    )


def design(days: list[date], start: date) -> np.ndarray:
    """Columns: intercept, days since `start`, one indicator per weekday but Monday."""
    t = np.array([(d - start).days for d in days], dtype=float)
    weekday = np.array([d.weekday() for d in days])
    dummies = [(weekday == k).astype(float) for k in range(1, 7)]
    return np.column_stack([np.ones_like(t), t, *dummies])


def fit_predict(
    days: list[date], orders: np.ndarray, ahead: list[date]
) -> tuple[np.ndarray, float]:
    """The forecast for `ahead` (never below zero) and the residuals' standard deviation."""
    start = days[0]
    coefficients, *_ = np.linalg.lstsq(design(days, start), orders, rcond=None)
    residuals = orders - design(days, start) @ coefficients
    return np.clip(design(ahead, start) @ coefficients, 0, None), float(residuals.std(ddof=1))


def forecast(daily: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, float]]:
    """The output rows, and per category the backtest's mean absolute error relative to the
    mean daily orders (fit without the last `HORIZON` days, judged on them)."""
    rows: list[dict[str, object]] = []
    errors: dict[str, float] = {}
    for (category,), group in daily.group_by("category", maintain_order=True):
        days: list[date] = group["day"].to_list()
        orders = group["orders"].to_numpy()
        ahead = [days[-1] + timedelta(days=n) for n in range(1, HORIZON + 1)]
        predicted, spread = fit_predict(days, orders, ahead)
        held_out, _ = fit_predict(days[:-HORIZON], orders[:-HORIZON], days[-HORIZON:])
        mean = float(orders[-HORIZON:].mean()) or 1.0
        errors[str(category)] = float(np.abs(held_out - orders[-HORIZON:]).mean()) / mean
        for day, value in zip(ahead, predicted, strict=True):
            rows.append(
                {
                    "category": category,
                    "day": day,
                    "orders": round(float(value), 3),
                    "low": round(max(float(value) - Z_80 * spread, 0.0), 3),
                    "high": round(float(value) + Z_80 * spread, 3),
                }
            )
    return pl.DataFrame(rows), errors


def main(pipes: PipesContext) -> None:
    inputs = pipes.get_extra("inputs")
    orders = pl.read_parquet(inputs["webshop.orders"])
    products = pl.read_parquet(inputs["inventory.products"])
    daily = daily_orders(orders, products)
    history = daily.group_by("category").agg(pl.len().alias("days"))
    shortest = int(history["days"].min() or 0)
    pipes.report_asset_check(
        "enough_history",
        passed=shortest >= MIN_HISTORY,
        metadata={"shortest_history_days": shortest},
    )
    rows, errors = forecast(daily)
    rows.write_parquet(pipes.get_extra("outputs")["category_order_forecast"])
    worst = max(errors.values())
    pipes.report_asset_check(
        "backtest_error",
        passed=worst < 0.75,
        metadata={
            "relative_mae": {
                "raw_value": {k: round(v, 3) for k, v in errors.items()},
                "type": "json",
            }
        },
    )
    pipes.report_asset_materialization(
        metadata={
            "categories": len(errors),
            "horizon_days": HORIZON,
            "history_days": int(daily["day"].n_unique()),
            "worst_relative_mae": round(worst, 3),
        }
    )


if __name__ == "__main__":
    with open_dagster_pipes() as context:
        main(context)
