"""A table's failure is its own: the source's other tables load, and no wait is unbounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from platform_assets.loading import SourceLoadError, raise_table_failure
from platform_assets.runner import RunReport, run_sources
from resources.warehouse import FAILURE_RECORD_SECONDS, Warehouse
from tests.conftest import Project
from tests.platform_assets.rest_kind.server import api  # noqa: F401  (the fixture)


@pytest.fixture
def lock_held(project: Project) -> Iterator[Path]:
    """Another process holds the warehouse's writer lock until the test ends."""
    lock = Path(str(project.root / "warehouse.duckdb") + ".lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom filelock import FileLock\nlock = FileLock(sys.argv[1])\n"
            "lock.acquire()\nprint('held', flush=True)\ntime.sleep(120)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield lock
    holder.kill()
    holder.wait()


def run_with(project: Project, warehouse: Warehouse) -> RunReport:
    catalog = project.catalog()
    return run_sources(
        catalog,
        list(catalog.sources),
        instance=project.instance,
        resources={**project.resources(), "warehouse": warehouse},
    )


def test_a_lock_timeout_fails_each_table_and_the_source_goes_on(
    project: Project, lock_held: Path
) -> None:
    """filelock.Timeout used to escape the loop: the first table's error ended the source,
    named no table, and the second table was never tried."""
    project.file("in/a.csv", "id\n1\n")
    project.file("in/b.csv", "id\n2\n")
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tables: [{name: a, path: in/a.csv}, {name: b, path: in/b.csv}]
        """,
    )
    warehouse = Warehouse(
        path=str(project.root / "warehouse.duckdb"),
        staging_dir=str(project.root / ".staging"),
        lock_timeout_seconds=0.5,
    )

    report = run_with(project, warehouse)

    assert not report.success
    assert report.failures == [
        f"source 'shop', table '{table}': Timeout: The file lock '{lock_held}' could not be "
        "acquired."
        for table in ("a", "b")
    ]


def test_a_conversion_error_fails_its_table_and_the_next_table_loads(
    project: Project,
    api: HTTPServer,  # noqa: F811
) -> None:
    """An integer no Arrow type holds (10**40) raised OverflowError out of the source, and
    `users`, after it in the catalog, never loaded."""
    api.expect_request("/measures").respond_with_json([{"id": 1, "value": 10**40}])
    api.expect_request("/users").respond_with_json([{"id": 1, "name": "Ada"}])
    project.source(
        "api",
        f"""
        name: api
        kind: rest
        client: {{base_url: "{api.url_for("/")}"}}
        tables:
          - {{name: measures, endpoint: {{path: measures}}}}
          - {{name: users, endpoint: {{path: users}}}}
        """,
    )

    report = project.run()

    assert report.failures[0].startswith("source 'api', table 'measures': ")
    assert len(report.failures) == 1
    assert project.query("SELECT id, name FROM api.users") == [(1, "Ada")]
    assert (
        project.scalar("SELECT status FROM _tributary.loads WHERE table_name = 'measures'")
        == "failed"
    )


def test_recording_a_failure_waits_for_the_warehouse_a_few_seconds_not_the_lock_timeout(
    project: Project, lock_held: Path
) -> None:
    """The failure record waited up to the whole lock timeout (here 30 s) a second time."""
    warehouse = Warehouse(
        path=str(project.root / "warehouse.duckdb"),
        staging_dir=str(project.root / ".staging"),
        lock_timeout_seconds=30,
    )
    started = time.monotonic()

    with pytest.raises(ValueError, match="bad row"), warehouse.load("shop", "orders"):
        raise ValueError("bad row")

    assert time.monotonic() - started < FAILURE_RECORD_SECONDS + 2


def test_ctrl_c_stops_the_run_at_once_and_is_no_table_failure(
    project: Project,
    api: HTTPServer,  # noqa: F811
) -> None:
    """SIGINT while a page is on its way: the run stops within seconds (the server would answer
    after 30), the next table is not started, and the command exits 130, not as a failed load."""
    requested = threading.Event()

    def slow(_request: Request) -> Response:
        requested.set()
        time.sleep(30)
        return Response("[]", mimetype="application/json")

    api.expect_request("/events").respond_with_handler(slow)
    api.expect_request("/users").respond_with_json([{"id": 1}])
    project.source(
        "api",
        f"""
        name: api
        kind: rest
        client: {{base_url: "{api.url_for("/")}"}}
        tables:
          - {{name: events, endpoint: {{path: events}}}}
          - {{name: users, endpoint: {{path: users}}}}
        """,
    )
    environment = {
        **os.environ,
        "TRIBUTARY_ROOT": str(project.root),
        "TRIBUTARY_CATALOG": str(project.catalog_dir),
        "TRIBUTARY_WAREHOUSE": str(project.root / "warehouse.duckdb"),
        "DAGSTER_HOME": str(project.root / ".dagster"),
    }
    command = [sys.executable, "-m", "platform_assets.cli", "run", "--all", "--workers", "1"]
    run = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    assert requested.wait(60), "the run never asked for the first page"

    run.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    _, stderr = run.communicate(timeout=60)

    assert time.monotonic() - interrupted < 10
    assert run.returncode == 130
    assert [line for line in stderr.splitlines() if line.startswith("FAILED")] == [
        "FAILED api: interrupted, the run stopped"
    ]
    assert not api.log or all(request.path != "/users" for request, _ in api.log)


def test_ctrl_c_during_a_duckdb_query_is_an_interrupt_not_a_table_failure() -> None:
    """DuckDB turns the KeyboardInterrupt that stops its query into `RuntimeError('Query
    interrupted')`: caught as an Exception, it became the table's failure and the source's next
    table loaded. Run in a process of its own, with Python's own SIGINT handler."""
    script = (
        "import os\n"
        "import signal\n"
        "import duckdb\n"
        # A shell that starts the suite in the background leaves SIGINT ignored, and Python
        # then installs no handler of its own.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from platform_assets.loading import raise_table_failure\n"
        "con = duckdb.connect()\n"
        "print('querying', flush=True)\n"
        "try:\n"
        "    con.execute('SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3')\n"
        "except Exception as error:\n"
        "    print(f'{type(error).__name__}: {error}', flush=True)\n"
        "    try:\n"
        "        raise_table_failure('big', 'events', error)\n"
        "    except KeyboardInterrupt as stop:\n"
        "        print(f'{type(stop).__name__}: {stop}', flush=True)\n"
        "os._exit(0)  # DuckDB's interrupted threads may hold the interpreter's exit\n"
    )
    query = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert query.stdout is not None and query.stdout.readline().strip() == "querying"
    _wait_until_busy(query.pid)

    query.send_signal(signal.SIGINT)
    stdout, stderr = query.communicate(timeout=60)

    assert stdout.strip().splitlines() == [
        "RuntimeError: Query interrupted",
        "KeyboardInterrupt: Query interrupted",
    ], stderr


def _wait_until_busy(pid: int, cpu_seconds: float = 0.3, timeout: float = 60) -> None:
    """Wait until process `pid` has spent `cpu_seconds` more of CPU: on a busy machine a fixed
    sleep can end before the query starts, and the signal then stops Python, not DuckDB."""

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    start, deadline = cpu(), time.monotonic() + timeout
    while cpu() - start < cpu_seconds:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.05)


def test_any_other_error_is_the_tables_failure_named_with_its_type() -> None:
    with pytest.raises(
        SourceLoadError, match=r"^source 'big', table 'events': RuntimeError: boom$"
    ):
        raise_table_failure("big", "events", RuntimeError("boom"))


def test_a_json_file_holding_one_object_is_answered_in_catalog_terms(project: Project) -> None:
    project.source(
        "api",
        "name: api\nkind: files\ntables: [{name: dump, path: in/dump.json}]\n",
    )
    project.file("in/dump.json", '{\n  "id": 1,\n  "name": "a"\n}\n')

    report = project.run()

    (line,) = report.failures
    assert line.startswith("source 'api', table 'dump': Invalid Input Error: Expected top-level")
    assert "format='auto'" not in line and "newline_delimited" not in line
    assert "`format: jsonl` one object per line" in line
