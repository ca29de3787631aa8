"""deploy/postgres/dagster.yaml: a Dagster instance whose runs, event log and schedule state
live in the machine's PostgreSQL (a fresh database per test session, dropped afterwards).
Materializations, schedule ticks and sensor ticks go through it as the daemon makes them."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from platform_assets.platform import INGEST_JOB, build_definitions
from tests.conftest import REPO, Project

URL_VARIABLE = "TRIBUTARY_DAGSTER_POSTGRES_URL"
SERVER = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL, dropped after the session."""
    name = f"tributary_pipes21_{uuid.uuid4().hex[:10]}"
    server = psycopg2.connect(SERVER)
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with server.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.close()


@pytest.fixture
def pg_instance(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    """The instance `deploy/postgres/dagster.yaml` describes, as `DAGSTER_HOME` holds it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv(URL_VARIABLE, postgres_url)
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def _catalog(project: Project) -> None:
    project.source(
        "crm",
        """
        name: crm
        kind: files
        schedule: "0 5 * * *"
        trigger: on_arrival
        tables: [{name: customers, path: in/c.csv, primary_key: id}]
        """,
    )
    project.file("in/c.csv", "id,country\n1,FR\n2,DE\n")


def test_the_instance_keeps_everything_in_postgres(pg_instance: DagsterInstance) -> None:
    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)


def test_a_materialization_is_recorded_in_postgres(
    project: Project, pg_instance: DagsterInstance
) -> None:
    _catalog(project)
    defs = build_definitions(project.catalog(), project.resources())

    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=pg_instance)

    assert result.success
    run = pg_instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == DagsterRunStatus.SUCCESS
    event = pg_instance.get_latest_materialization_event(AssetKey(["crm", "customers"]))
    assert event is not None and event.run_id == result.run_id
    assert event.asset_materialization is not None
    assert event.asset_materialization.metadata["rows_in"].value == 2
    assert project.scalar("SELECT count(*) FROM crm.customers") == 2


@pytest.fixture
def daemon_workspace(
    project: Project, pg_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkspaceProcessContext]:
    """The platform's code location over `project`, served as the daemon serves it (a code
    server process of its own, which reads the project from the environment)."""
    _catalog(project)
    monkeypatch.setenv("TRIBUTARY_ROOT", str(project.root))
    monkeypatch.setenv("TRIBUTARY_CATALOG", str(project.catalog_dir))
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(project.root / "warehouse.duckdb"))
    monkeypatch.setenv("TRIBUTARY_STAGING", str(project.root / ".staging"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    target = ModuleTarget("platform_assets.definitions", None, str(REPO), "tributary")
    with create_test_daemon_workspace_context(target, pg_instance) as context:
        yield context


def _start(context: WorkspaceProcessContext, kind: InstigatorType, name: str) -> None:
    location = context.create_request_context().get_code_location("tributary")
    repository = next(iter(location.get_repositories().values()))
    if kind == InstigatorType.SCHEDULE:
        context.instance.start_schedule(repository.get_schedule(name))
    else:
        context.instance.start_sensor(repository.get_sensor(name))


def _ticks(instance: DagsterInstance, name: str) -> list[tuple[TickStatus, int]]:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    assert len(states) == 1
    state = states[0]
    return [
        (tick.status, len(tick.run_ids))
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
    ]


def test_a_schedule_tick_is_recorded_in_postgres(
    daemon_workspace: WorkspaceProcessContext, pg_instance: DagsterInstance
) -> None:
    _start(daemon_workspace, InstigatorType.SCHEDULE, "crm_schedule")
    logger = logging.getLogger("scheduler")

    # the daemon's loop: a first pass now, then one a day later, which reaches the next 05:00
    now = datetime.now(UTC)
    for moment in (now, now + timedelta(days=1)):
        list(launch_scheduled_runs(daemon_workspace, logger, moment, {}))

    assert _ticks(pg_instance, "crm_schedule") == [(TickStatus.SUCCESS, 1)]
    [run] = pg_instance.get_runs(RunsFilter(tags={"dagster/schedule_name": "crm_schedule"}))
    assert run.status == DagsterRunStatus.QUEUED  # the daemon's queue launches it
    assert run.job_name == INGEST_JOB  # with the source's tables as its selection
    assert run.asset_selection and {k.path[0] for k in run.asset_selection} == {"crm"}


def test_a_sensor_tick_is_recorded_in_postgres(
    daemon_workspace: WorkspaceProcessContext, pg_instance: DagsterInstance
) -> None:
    sensor = "crm_file_arrival"
    _start(daemon_workspace, InstigatorType.SENSOR, sensor)
    logger = logging.getLogger("sensors")

    list(execute_sensor_iteration(daemon_workspace, logger, None, None))

    # A file-arrival sensor's first tick records the files already there and launches nothing
    # (those are loaded by `tributary run` or the schedule): the tick and its cursor are stored.
    assert _ticks(pg_instance, sensor) == [(TickStatus.SKIPPED, 0)]
    assert not pg_instance.get_runs(RunsFilter(tags={"dagster/sensor_name": sensor}))
