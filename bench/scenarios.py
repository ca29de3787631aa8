"""Scenarios the benchmark times, each in a fresh process (`python -m bench.scenarios ...`).

Each prints one JSON line: its own `seconds` (the timed part only), `peak_rss_mb` (read at the
end of the timed part), and what it found: the counts a load reports and a `table` summary of
what the table holds, read after the clock stopped."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from bench.checks import CHECKS
from bench.measure import peak_rss_mb


def table_summary(con: duckdb.DuckDBPyConnection, table: str, where: str = "") -> dict[str, Any]:
    """What `table` holds, as numbers that any two tables of the same rows agree on: rows,
    distinct ids, and sums over the two columns a changed snapshot rewrites."""
    row = con.execute(
        "SELECT count(*), count(DISTINCT id), sum(amount::DECIMAL(18, 2))::VARCHAR, "
        f"sum(epoch(updated_at::TIMESTAMP))::VARCHAR FROM {table} {where}"
    ).fetchone()
    assert row is not None
    return {"rows": row[0], "ids": row[1], "amount": row[2], "updated_at": row[3]}


def duckdb_ctas(input_path: str, database: str) -> None:
    """The baseline: DuckDB's own reader straight into a table."""
    reader = "read_parquet" if input_path.endswith(".parquet") else "read_csv"
    started = time.perf_counter()
    con = duckdb.connect(database)
    con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM {reader}('{input_path}')")
    con.close()
    seconds, peak = time.perf_counter() - started, peak_rss_mb()
    with duckdb.connect(database, read_only=True) as con:
        table = table_summary(con, "t")
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "table": table}))


def tributary_load(input_path: str, workdir: str, write: str = "merge") -> None:
    """The same file as a catalog source (`write` on the primary key `id`, the ten column
    checks of bench.checks), run through Dagster in-process. Each call is one load: run it again
    on the same `workdir` for the next load into the same warehouse.

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
        "write": write,
        "checks": CHECKS.model_dump(by_alias=True, exclude_defaults=True),
    }
    (catalog / "bench.yaml").write_text(
        yaml.safe_dump({"name": "bench", "kind": "files", "tables": [table]})
    )
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir(exist_ok=True)
    from dagster import DagsterInstance

    from platform_assets.catalog import load_catalog
    from platform_assets.files_kind.reader import FileReader
    from platform_assets.kinds import config_models
    from platform_assets.runner import run_sources
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
        peak = peak_rss_mb()
    if not report.success:
        raise SystemExit(f"load failed: {report.failures}")
    result = report.tables[0]
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        held = table_summary(con, "bench.orders")
        if write == "scd2":
            held = table_summary(con, "bench.orders", "WHERE _valid_to IS NULL")
            versions = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE _valid_to IS NOT NULL) FROM bench.orders"
            ).fetchone()
            assert versions is not None
            held |= {"versions": versions[0], "closed": versions[1]}
    print(
        json.dumps(
            {
                "seconds": seconds,
                "process_seconds": round(time.perf_counter() - process_started, 2),
                "load_seconds": result["seconds"],
                "commit_seconds": result["commit_seconds"],
                "check_seconds": result.get("check_seconds"),
                "rows_in": result["rows_in"],
                "inserted": result["rows_inserted"],
                "updated": result["rows_updated"],
                "deleted": result["rows_deleted"],
                "peak_rss_mb": peak,
                "table": held,
            }
        )
    )


if __name__ == "__main__":
    scenario, *args = sys.argv[1:]
    if scenario == "duckdb_ctas":
        duckdb_ctas(*args)
    else:
        tributary_load(*args)
