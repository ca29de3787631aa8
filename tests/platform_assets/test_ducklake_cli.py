"""`tributary query`, `tributary maintain` and the compaction job on a DuckLake warehouse."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from dagster import DagsterInstance
from typer.testing import CliRunner

from platform_assets.cli import app
from platform_assets.platform import build_definitions, load_platform_catalog
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from sensors.maintenance import MAINTENANCE_JOB

runner = CliRunner()


@pytest.fixture
def lake(lake_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """A lake holding `src.items` (ids 0-4999, landed in five loads), named by the environment."""
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", lake_warehouse.path)
    monkeypatch.setenv("TRIBUTARY_DATA_PATH", str(lake_warehouse.data_path))
    monkeypatch.setenv("TRIBUTARY_STAGING", lake_warehouse.staging_dir)
    for n in range(5):
        with lake_warehouse.load("src", "items") as load:
            load.stage(pa.table({"id": list(range(n * 1000, (n + 1) * 1000))}))
            load.commit(WriteSpec("src", "items", "append"))
    return lake_warehouse


def test_query_reads_the_lake(lake: Warehouse) -> None:
    result = runner.invoke(app, ["query", "SELECT count(*), sum(id) FROM src.items", "-f", "csv"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == f"5000,{sum(range(5000))}"


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "Cannot access file"),
        ("COPY (SELECT 42) TO '{data}/x.csv'", "only queries run"),
        ("DELETE FROM src.items", "only queries run"),
    ],
)
def test_query_on_the_lake_reaches_nothing_beyond_it(
    lake: Warehouse, sql: str, refusal: str
) -> None:
    result = runner.invoke(app, ["query", sql.format(data=lake.data_path)])

    assert result.exit_code == 1
    assert result.output.startswith("query failed") and refusal in result.output
    assert not Path(str(lake.data_path), "x.csv").exists()


def test_maintain_compacts_the_lake(lake: Warehouse) -> None:
    result = runner.invoke(app, ["maintain", "--older-than", "0s"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("merged ") and "merged 0 " not in result.output
    with lake.read_only() as con:
        assert con.execute("SELECT count(*), sum(id) FROM src.items").fetchone() == (
            5000,
            sum(range(5000)),
        )


def test_a_lake_warehouse_brings_the_compaction_job_and_its_schedule(
    lake: Warehouse, tmp_path: object
) -> None:
    catalog = load_platform_catalog()
    defs = build_definitions(catalog, {"warehouse": lake})
    job = defs.resolve_job_def(MAINTENANCE_JOB)
    assert defs.resolve_schedule_def(f"{MAINTENANCE_JOB}_schedule").cron_schedule == "0 3 * * *"

    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"warehouse": lake},
            run_config={"ops": {"compact_lake": {"config": {"older_than_days": 0}}}},
        )

    assert result.success
    with lake.read_only() as con:
        assert con.execute("SELECT count(*) FROM src.items").fetchone() == (5000,)


def test_a_duckdb_file_warehouse_has_no_compaction_job(warehouse: Warehouse) -> None:
    defs = build_definitions(load_platform_catalog(), {"warehouse": warehouse})

    assert MAINTENANCE_JOB not in [job.name for job in defs.resolve_all_job_defs()]


def test_a_lake_without_a_data_path_stops_the_command_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", "ducklake:postgres:dbname=nowhere host=127.0.0.1")
    monkeypatch.delenv("TRIBUTARY_DATA_PATH", raising=False)

    result = runner.invoke(app, ["query", "SELECT 1"])

    assert result.exit_code == 1
    assert "TRIBUTARY_DATA_PATH" in result.output and "needs a data path" in result.output
