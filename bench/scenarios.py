"""Scenarios the benchmark times, each in a fresh process (`python -m bench.scenarios ...`)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml

from bench.checks import CHECKS
from bench.measure import peak_rss_mb


def duckdb_ctas(input_path: str, database: str) -> None:
    """The baseline: DuckDB's own reader straight into a table."""
    import duckdb

    reader = "read_parquet" if input_path.endswith(".parquet") else "read_csv"
    started = time.perf_counter()
    con = duckdb.connect(database)
    con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM {reader}('{input_path}')")
    con.close()
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}))


def tributary_load(input_path: str, workdir: str) -> None:
    """The same file as a catalog source (merge on id, the ten column checks of bench.checks),
    run through Dagster in-process.

    Timed from loading the catalog to the committed load. Process start-up (imports, and the
    Dagster instance, a fixed ~0.7 s) is left out, as the baseline leaves out `import duckdb`;
    `process_seconds` reports the whole process beside it."""
    process_started = time.perf_counter()
    os.utime(input_path)  # a new version of the file each load, so the file ledger reads it
    root = Path(workdir)
    catalog = root / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    table = {
        "name": "orders",
        "path": input_path,
        "primary_key": "id",
        "write": "merge",
        "checks": CHECKS.model_dump(by_alias=True, exclude_defaults=True),
    }
    (catalog / "bench.yaml").write_text(
        yaml.safe_dump({"name": "bench", "kind": "files", "tables": [table]})
    )
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir(exist_ok=True)
    from dagster import DagsterInstance

    from platform_assets.catalog import load_catalog
    from platform_assets.kinds import config_models
    from platform_assets.runner import run_sources
    from resources.files import FileReader
    from resources.warehouse import Warehouse

    resources = {
        "warehouse": Warehouse(path=str(root / "w.duckdb"), staging_dir=str(root / "staging")),
        "files": FileReader(root=str(root)),
    }
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        loaded = load_catalog(catalog, config_models())
        report = run_sources(loaded, loaded.sources, instance=instance, resources=resources)
        seconds = time.perf_counter() - started
    if not report.success:
        raise SystemExit(f"load failed: {report.failures}")
    table = report.tables[0]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "process_seconds": round(time.perf_counter() - process_started, 2),
                "load_seconds": table["seconds"],
                "commit_seconds": table["commit_seconds"],
                "check_seconds": table.get("check_seconds"),
                "rows_in": table["rows_in"],
                "inserted": table["rows_inserted"],
                "updated": table["rows_updated"],
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    scenario, *args = sys.argv[1:]
    {"duckdb_ctas": duckdb_ctas, "tributary_load": tributary_load}[scenario](*args)
