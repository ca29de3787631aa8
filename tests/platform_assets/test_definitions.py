"""The demo code location: it loads, and every demo source lands in the warehouse."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, Definitions

from platform_assets import demo_api, demo_signals
from platform_assets.definitions import defs
from platform_assets.files_kind.reader import FileReader
from platform_assets.platform import load_platform_catalog
from platform_assets.rest_kind.reader import RestReader
from platform_assets.runner import run_sources
from resources.warehouse import Warehouse
from tests.conftest import REPO
from tests.streams import redis_delete, redis_publish, unique


def test_the_code_location_loads_and_validates() -> None:
    Definitions.validate_loadable(defs)


def test_assets_carry_what_the_catalog_says() -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}

    orders = specs[AssetKey(["webshop", "orders"])]

    assert orders.group_name == "webshop"
    assert orders.owners == ["team:commerce"]
    assert orders.tags["domain"] == "orders"
    assert orders.kinds == {"duckdb", "jsonl"}
    assert orders.freshness_policy is not None
    assert orders.freshness_policy.fail_window.to_timedelta() == timedelta(hours=6)  # type: ignore[attr-defined]
    assert orders.description is not None and "crm.customers" in orders.description


def test_every_demo_source_lands_with_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = demo_api.start()
    for name, url in demo_api.base_urls(server.server_address[1]).items():
        monkeypatch.setenv(name, url)
    monkeypatch.setenv("CLICKSTREAM_END", "2026-11-08T00:00:00Z")  # a week of page views
    signals = unique()
    monkeypatch.setenv("DEMO_SIGNALS_STREAM", signals)
    redis_publish(signals, demo_signals.signals(random.Random(7)))
    catalog = load_platform_catalog()
    resources = {
        "warehouse": Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "s")),
        "files": FileReader(root=str(REPO)),
        "rest": RestReader(cache_dir=str(tmp_path / "cache")),
    }

    try:
        with DagsterInstance.ephemeral() as instance:
            report = run_sources(catalog, catalog.sources, instance=instance, resources=resources)
    finally:
        server.shutdown()
        server.server_close()
        redis_delete(signals)

    assert report.success, report.failures
    rows = {t["table"]: t["rows_in"] for t in report.tables}
    assert rows == {
        "crm.customers": 200,
        "inventory.products": 13,
        "webshop.orders": 1950,
        "earthquakes.events": 80,
        "github.issues": 120,
        "github.issues__labels": 119,  # a child table, written with its parent
        "news.articles": 57,
        "weather.hourly_forecast": 168,
        "clickstream.page_views": 7 * 288 + 1,
        "signals.pulse_signals": 304,  # 308 messages, 4 of them dead letters
        "fx.rates": 120,
        "erp.suppliers": 8,
        "erp.purchase_orders": 240,
        "erp.stock_movements": 77,
        "erp.supplier_spend": 8,
    }
