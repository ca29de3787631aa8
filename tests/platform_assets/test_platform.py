"""The platform's defaults: the warehouse the environment describes, and no storage for values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from platform_assets.platform import build_definitions, default_warehouse, load_platform_catalog
from platform_assets.settings import SettingsError
from tests.conftest import Project


def test_the_environment_tunes_the_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_MEMORY_LIMIT", "2GB")
    monkeypatch.setenv("TRIBUTARY_LOCK_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("TRIBUTARY_WRITEBACK_SECONDS", "0")

    warehouse = default_warehouse()

    assert (warehouse.memory_limit, warehouse.lock_timeout_seconds) == ("2GB", 30.0)
    assert warehouse.writeback_seconds == 0


def test_a_bad_setting_fails_the_definitions_load_and_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBUTARY_WRITEBACK_SECONDS", "often")

    with pytest.raises(SettingsError, match="TRIBUTARY_WRITEBACK_SECONDS='often': Input should be"):
        build_definitions(load_platform_catalog())


def test_a_run_sets_up_no_storage_for_values_that_its_assets_never_return(
    project: Project,
) -> None:
    """Without an `io_manager` of its own, every run (and every step process) would set up
    Dagster's filesystem pickler, importing fsspec and universal-pathlib, for nothing. Run in a
    fresh interpreter, where nothing else has imported them."""
    project.file("in/customers.csv", "id,name\n1,Ada\n")
    project.source(
        "crm", "name: crm\nkind: files\ntables: [{name: customers, path: in/customers.csv}]\n"
    )
    script = (
        "import sys\n"
        "from dagster import DagsterInstance\n"
        "from platform_assets.platform import load_platform_catalog\n"
        "from platform_assets.runner import run_sources\n"
        "catalog = load_platform_catalog()\n"
        "report = run_sources(catalog, catalog.sources, instance=DagsterInstance.ephemeral())\n"
        "assert report.success, report.failures\n"
        "print(sorted(set(sys.modules) & {'fsspec', 'upath'}))\n"
    )
    environment = {
        **os.environ,
        "TRIBUTARY_ROOT": str(project.root),
        "TRIBUTARY_CATALOG": str(project.catalog_dir),
        "TRIBUTARY_WAREHOUSE": str(project.root / "warehouse.duckdb"),
    }

    ran = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True
    )

    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip().splitlines()[-1] == "[]"
