"""Run one catalog source against a temporary warehouse, for plugin authors' tests.

from tributary.testing import run_source

def test_orders(tmp_path):
    tables = run_source("catalog/", "shop", tmp_path)
    assert tables["orders"].height == 3
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from dagster import DagsterInstance

from platform_assets.catalog import Catalog
from platform_assets.platform import load_platform_catalog
from platform_assets.python_kind.assets import PluginRunner
from platform_assets.rest_kind.reader import RestReader
from platform_assets.runner import RunReport, run_sources
from resources.duckdb_sql import quote
from resources.warehouse import Warehouse


class SourceRunError(AssertionError):
    """The source's run failed; the message has one line per table that did not land."""

    def __init__(self, report: RunReport) -> None:
        self.report = report
        lines = report.failures or ["the run failed (see the Dagster event log)"]
        super().__init__(f"{report.summary()}\n" + "\n".join(lines))


def warehouse_in(tmp_path: Path) -> Warehouse:
    """The warehouse `run_source` writes to under `tmp_path` (`tmp_path/warehouse.duckdb`)."""
    return Warehouse(
        path=str(tmp_path / "warehouse.duckdb"), staging_dir=str(tmp_path / ".staging")
    )


def _catalog(catalog: str | Path, tmp_path: Path) -> Catalog:
    path = Path(catalog)
    if path.is_dir():
        return load_platform_catalog(path)
    # One source file: a catalog of its own, so the other files of its folder stay out.
    directory = tmp_path / "catalog"
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, directory / path.name)
    return load_platform_catalog(directory)


def run_source(
    catalog: str | Path,
    source: str,
    tmp_path: str | Path,
    tables: Sequence[str] | None = None,
) -> dict[str, pl.DataFrame]:
    """Load `source` of `catalog` (a catalog folder, or one source's YAML file) into the
    warehouse at `tmp_path/warehouse.duckdb` through the platform, in this process, with an
    ephemeral Dagster instance, and return each of its tables (or those named in `tables`) as
    a polars DataFrame, lineage columns (`_load_id`, ...) included, ordered as stored.

    Calling it again with the same `tmp_path` runs the source again against the same warehouse
    (an incremental table then starts from its stored cursor). Raises `CatalogError` for an
    invalid catalog and `SourceRunError` (an AssertionError) naming every table that failed or
    was blocked by its checks.
    """
    root = Path(tmp_path)
    loaded = _catalog(catalog, root)
    chosen = loaded.source(source)
    warehouse = warehouse_in(root)
    resources = {
        "warehouse": warehouse,
        "python": PluginRunner(cache_dir=str(root / ".cache")),
        "rest": RestReader(cache_dir=str(root / ".cache")),
    }
    with DagsterInstance.ephemeral() as instance:
        report = run_sources(loaded, [chosen], instance=instance, resources=resources)
    if not report.success:
        raise SourceRunError(report)
    names = tables if tables is not None else [t.name for t in chosen.tables]
    with warehouse.read_only() as con:
        return {
            name: con.sql(f"SELECT * FROM {quote(chosen.name)}.{quote(name)}").pl()
            for name in names
        }
