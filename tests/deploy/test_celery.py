"""TRIBUTARY_EXECUTOR=celery: each source's step is a Celery task, run by a worker on the
machine's RabbitMQ, and the warehouse still takes their commits one at a time, exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter
from kombu import Connection

from platform_assets.runner import run_sources
from tests.conftest import REPO, Project

BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
SOURCES = {"alpha": 3000, "beta": 2000, "gamma": 1000}


def _delete_queue(name: str) -> None:
    """Drop the test's queue and whatever a killed run left in it."""
    with Connection(BROKER) as connection:
        channel = connection.channel()
        try:
            channel.queue_delete(name)
        finally:
            channel.close()


@pytest.fixture
def celery_project(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Project, DagsterInstance]]:
    """Three sources, an instance on disk the worker can open, and a worker (a process group of
    its own, stopped afterwards) listening on a queue of this test's own."""
    for name, rows in SOURCES.items():
        project.source(
            name, f"name: {name}\nkind: files\ntables: [{{name: t, path: in/{name}.csv}}]\n"
        )
        project.file(
            f"in/{name}.csv", "id,value\n" + "".join(f"{i},{i * 2}\n" for i in range(rows))
        )
    queue = f"tributary_pipes21_{uuid.uuid4().hex[:10]}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    environment = {
        "DAGSTER_HOME": str(home),
        "TRIBUTARY_ROOT": str(project.root),
        "TRIBUTARY_CATALOG": str(project.catalog_dir),
        "TRIBUTARY_WAREHOUSE": str(project.root / "warehouse.duckdb"),
        "TRIBUTARY_STAGING": str(project.root / ".staging"),
        "TRIBUTARY_EXECUTOR": "celery",
        "TRIBUTARY_CELERY_BROKER": BROKER,
        "TRIBUTARY_CELERY_BACKEND": "rpc://",
        "TRIBUTARY_CELERY_QUEUE": queue,
        # the worker command runs `celery`, found on PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    _delete_queue(queue)
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(REPO / "deploy" / "celery" / "worker.yaml"),
            "-q",
            queue,
            "--",
            "--concurrency=2",
        ],
        env=os.environ.copy(),
        cwd=project.root,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=(project.root / "worker.log").open("w"),
    )
    try:
        with DagsterInstance.get() as instance:
            yield project, instance
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        _delete_queue(queue)


def test_sources_run_as_celery_tasks_and_commit_exactly(
    celery_project: tuple[Project, DagsterInstance],
) -> None:
    project, instance = celery_project
    catalog = project.catalog()

    report = run_sources(catalog, catalog.sources, instance=instance)

    log = (project.root / "worker.log").read_text()
    assert report.success, f"{report.failures}\n{log[-3000:]}"
    for name, rows in SOURCES.items():
        assert project.scalar(f"SELECT count(*) FROM {name}.t") == rows
        assert project.scalar(f"SELECT sum(value) FROM {name}.t") == rows * (rows - 1)
    loads = project.query(
        "SELECT source, status, rows_inserted FROM _tributary.loads ORDER BY source"
    )
    assert loads == [(name, "succeeded", rows) for name, rows in sorted(SOURCES.items())]
    # every step ran in a worker's process, sent there as a Celery task
    starts = instance.get_event_records(EventRecordsFilter(event_type=DagsterEventType.STEP_START))
    steps = {r.event_log_entry.step_key: r.event_log_entry.dagster_event.pid for r in starts}
    assert set(steps) == set(SOURCES)
    assert os.getpid() not in steps.values()
    engine = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ENGINE_EVENT)
    )
    sent = [r.event_log_entry.message or "" for r in engine]
    for name in SOURCES:
        assert any(f'celery task for step "{name}"' in message for message in sent), sent
