"""Catalog `schedule` → a Dagster schedule of the source's assets, in the source's time zone."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import AssetKey, build_schedule_context
from typer.testing import CliRunner

from platform_assets.cli import app
from platform_assets.platform import INGEST_JOB, build_definitions
from sensors.schedules import next_run
from tests.conftest import Project


def _catalog(project: Project) -> None:
    project.source(
        "crm",
        """
        name: crm
        kind: files
        schedule: "0 5 * * *"
        timezone: Europe/Paris
        tables: [{name: customers, path: in/c.csv}, {name: accounts, path: in/a.csv}]
        """,
    )
    project.source(
        "adhoc",
        """
        name: adhoc
        kind: files
        tables: [{name: t, path: in/t.csv}]
        """,
    )


def test_a_scheduled_source_gets_a_schedule_of_its_tables(project: Project) -> None:
    _catalog(project)
    defs = build_definitions(project.catalog(), project.resources())

    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"crm_schedule"}
    schedule = defs.resolve_schedule_def("crm_schedule")
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    with build_schedule_context(
        scheduled_execution_time=datetime(2026, 1, 1, 4, tzinfo=UTC)
    ) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert requests is not None and len(requests) == 1
    assert set(requests[0].asset_selection or ()) == {
        AssetKey(["crm", "customers"]),
        AssetKey(["crm", "accounts"]),
    }
    assert requests[0].tags["tributary/source"] == "crm"


def test_every_schedule_launches_the_one_job_of_all_tables(project: Project) -> None:
    """A job per schedule would be resolved against every asset of the catalog: definitions
    of a catalog of N scheduled sources would cost N times the catalog."""
    _catalog(project)
    project.source(
        "erp",
        """
        name: erp
        kind: files
        schedule: "0 6 * * *"
        tables: [{name: orders, path: in/o.csv}]
        """,
    )
    defs = build_definitions(project.catalog(), project.resources())

    assert {s.job_name for s in defs.schedules} == {INGEST_JOB}
    assert {job.name for job in defs.get_repository_def().get_all_jobs()} == {
        INGEST_JOB,
        "__ASSET_JOB",
    }


def test_next_run_follows_the_source_time_zone(project: Project, tmp_path: Path) -> None:
    _catalog(project)
    crm, adhoc = project.catalog().source("crm"), project.catalog().source("adhoc")

    winter = next_run(crm, datetime(2026, 1, 10, 12, tzinfo=UTC))
    summer = next_run(crm, datetime(2026, 7, 10, 12, tzinfo=UTC))

    assert winter is not None and winter.astimezone(UTC) == datetime(2026, 1, 11, 4, tzinfo=UTC)
    assert summer is not None and summer.astimezone(UTC) == datetime(2026, 7, 11, 3, tzinfo=UTC)
    assert next_run(adhoc) is None


def test_tributary_sources_shows_the_next_run(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalog(project)
    monkeypatch.setenv("TRIBUTARY_CATALOG", str(project.catalog_dir))

    output = CliRunner().invoke(app, ["sources"]).output

    crm = next(line for line in output.splitlines() if line.startswith("crm"))
    adhoc = next(line for line in output.splitlines() if line.startswith("adhoc"))
    assert "next run" in output
    assert crm.rstrip().endswith(("CET", "CEST")) and " 05:00 " in crm
    assert adhoc.rstrip().endswith("-")
