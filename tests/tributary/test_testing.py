"""`tributary.testing.run_source`: one catalog source against a temporary warehouse, the way
plugin authors test their plugins; here on the demo catalog's two plugin sources."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from platform_assets import settings
from tributary.testing import SourceRunError, run_source, warehouse_in

DEMO = settings.PACKAGE_DIR / "catalog"


def test_the_demo_generator_lands_deterministic_page_views(tmp_path: Path) -> None:
    tables = run_source(DEMO / "clickstream.yaml", "clickstream", tmp_path / "a")
    again = run_source(DEMO / "clickstream.yaml", "clickstream", tmp_path / "b")

    views = tables["page_views"]
    assert views.height > 1000
    first = views.sort("view_id").head(3).select("view_id", "user_id", "page", "duration_ms")
    assert first.equals(again["page_views"].sort("view_id").head(3).select(first.columns)), (
        "the same seed draws the same views"
    )
    assert views["view_id"].is_unique().all()


def test_the_demo_exchange_rates_walk_the_calendar_through_the_platform_client(
    tmp_path: Path,
) -> None:
    tables = run_source(DEMO, "fx", tmp_path)

    rates = tables["rates"]
    assert rates.height == 15 * 8
    usd = rates.filter(pl.col("currency") == "USD").sort("rate_date").row(0, named=True)
    assert str(usd["rate_date"]) == "2026-01-05"
    assert str(usd["rate"]) == "1.079700"  # exactly as published, no float rounding
    with warehouse_in(tmp_path).read_only() as con:
        requests = con.execute(
            "SELECT requests FROM _tributary.loads WHERE source = 'fx' AND status = 'succeeded'"
        ).fetchall()
    assert requests == [(1 + 15,)], "the calendar, then one request per day, all counted"


def test_a_failed_run_raises_naming_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FX_API_KEY", "wrong-key")

    with pytest.raises(SourceRunError) as error:
        run_source(DEMO / "fx.yaml", "fx", tmp_path)

    assert (
        "source 'fx', table 'rates': plugin 'platform_assets.demo_plugins.fx_rates:FxRates'"
        " failed in fetch: RestHTTPError: GET http" in str(error.value)
    )
    assert "returned 403 Forbidden" in str(error.value)
    assert "wrong-key" not in str(error.value)
