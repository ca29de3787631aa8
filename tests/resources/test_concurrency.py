"""Writers and readers in separate processes: loads commit one at a time, and analysts' queries
wait for a commit rather than fail on DuckDB's file lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from platform_assets.platform import load_platform_catalog
from platform_assets.runner import run_sources
from resources.warehouse import Warehouse
from tests.conftest import REPO, Project
from tests.platform_assets.rest_kind.server import api, json_response

__all__ = ["api"]


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT i AS id, i * {seed + 1} AS amount, md5(i::VARCHAR) AS label "
            f"FROM range({rows}) t(i)) TO '{path}' (HEADER)"
        )


@pytest.fixture
def environment(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment variables that point the platform (and its child processes) at `project`."""
    values = {
        "TRIBUTARY_ROOT": str(project.root),
        "TRIBUTARY_CATALOG": str(project.catalog_dir),
        "TRIBUTARY_WAREHOUSE": str(project.root / "warehouse.duckdb"),
        "TRIBUTARY_STAGING": str(project.root / ".staging"),
        "DAGSTER_HOME": str(project.root / ".dagster"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    Path(values["DAGSTER_HOME"]).mkdir()
    return values


def test_analyst_queries_during_a_long_load_all_succeed(
    project: Project, environment: dict[str, str]
) -> None:
    write_csv(project.root / "in/big.csv", 3_000_000)
    project.source(
        "big",
        """
        name: big
        kind: files
        tables: [{name: rows, path: in/big.csv, primary_key: id, write: merge}]
    """,
    )
    warehouse = project.warehouse
    warehouse.transaction(lambda con: None)  # the warehouse exists before the first query

    loader = subprocess.Popen(
        [sys.executable, "-m", "platform_assets.cli", "run", "--source", "big"],
        cwd=REPO,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    waits = []
    while loader.poll() is None:
        started = time.perf_counter()
        with warehouse.read_only() as con:
            con.execute("SELECT count(*) FROM _tributary.loads").fetchone()
        waits.append(time.perf_counter() - started)
    output = loader.communicate()[0]

    assert loader.returncode == 0, output
    assert len(waits) > 10
    assert max(waits) > 0.2, "no query overlapped the commit; make the load longer"
    assert project.scalar("SELECT count(*) FROM big.rows") == 3_000_000


def test_sources_read_in_parallel_and_commit_one_at_a_time(
    project: Project, environment: dict[str, str], api: HTTPServer
) -> None:
    """Four REST sources whose API answers only while two of them are asking at once: the
    sources must fetch in parallel (each in its own process), and still land one at a time."""
    together = threading.Barrier(2, timeout=30)

    def answer_in_pairs(request: Request) -> Response:
        together.wait()  # alone for 30 s, it breaks: every waiting request fails
        return json_response([{"id": i, "path": request.path} for i in range(1_000)])

    for index in range(4):
        api.expect_request(f"/s{index}").respond_with_handler(answer_in_pairs)
        project.source(
            f"s{index}",
            f"""
            name: s{index}
            kind: rest
            client: {{base_url: "{api.url_for("/")}", retry: {{max_attempts: 1}}}}
            tables:
              - {{name: rows, endpoint: {{path: /s{index}, paginator: {{type: single_page}}}},
                  primary_key: id, write: merge}}
        """,
        )
    catalog = load_platform_catalog()

    with DagsterInstance.get() as instance:
        report = run_sources(catalog, catalog.sources, instance=instance, workers=4)

    assert report.success, report.failures
    loads = project.query("SELECT source, status, rows_in, error FROM _tributary.loads")
    assert sorted(loads) == [(f"s{i}", "succeeded", 1_000, None) for i in range(4)]
    assert project.warehouse.staging_directory.exists() is False or not list(
        project.warehouse.staging_directory.iterdir()
    )


def test_a_writer_waits_for_readers_to_let_go(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.transaction(lambda con: con.execute("CREATE TABLE t AS SELECT 1 AS x"))
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, time, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(1.5)",
            warehouse.path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "open"

    started = time.perf_counter()
    warehouse.transaction(lambda con: con.execute("INSERT INTO t VALUES (2)"))

    assert time.perf_counter() - started > 0.5
    reader.wait()
    with warehouse.read_only() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)
