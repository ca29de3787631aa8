"""`python -m bench.deploy`: what leaving one process costs.

- Pipes: a trivial external model (`models/<name>.py`, run through Dagster Pipes in a process of
  its own: it hands its one input, 10,000 rows as Parquet, back as its output) against the same
  work as a plain in-process asset (read the table, land it through the writer). Both are
  whole Dagster runs of one asset on an ephemeral instance. Target: at most 0.2 s more,
  median against median.
- PostgreSQL instance: a run of one files table (10,000 rows) recorded in a Dagster instance on
  the local PostgreSQL (`deploy/postgres/dagster.yaml`, a database made for the bench and
  dropped after) against the same run on a SQLite-backed instance. Target: at most 1.3x.

Rounds alternate the two sides; each figure is the median over `--rounds` (default 5), after
one warm-up round each. Every round's row counts are checked.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    MaterializeResult,
    asset,
    materialize,
)
from tabulate import tabulate

from platform_assets.external_models.handover import BOOKKEEPING
from platform_assets.files_kind.reader import FileReader
from platform_assets.platform import INGEST_JOB, build_definitions, load_platform_catalog
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec

ROWS = 10_000
PIPES_OVERHEAD_TARGET = 0.2
POSTGRES_TARGET = 1.3
REPO = Path(__file__).resolve().parents[1]
SERVER = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
EXPORTED = "COLUMNS(c -> c NOT IN (" + ", ".join(f"'{c}'" for c in BOOKKEEPING) + "))"
"""What a model is handed of a table: its data columns."""
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

TRIVIAL_MODEL = """
import shutil
from dagster_pipes import open_dagster_pipes

MODEL = {"inputs": ["bench.t"], "outputs": [{"name": "copied"}]}

with open_dagster_pipes() as pipes:
    shutil.copyfile(pipes.get_extra("inputs")["bench.t"], pipes.get_extra("outputs")["copied"])
    pipes.report_asset_materialization(metadata={"copied": True})
"""
"""The model hands its input file back as its output: what it costs beyond the plain asset is
the platform's (export, process, Pipes, landing a file), not a library's import time."""


def _project(root: Path, with_model: bool) -> None:
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "bench.yaml").write_text(
        "name: bench\nkind: files\ntables: [{name: t, path: in/t.csv}]\n"
    )
    (root / "in").mkdir()
    (root / "in" / "t.csv").write_text(
        "id,value,label\n" + "".join(f"{i},{i * 3},row {i}\n" for i in range(ROWS))
    )
    if with_model:
        (root / "models").mkdir()
        (root / "models" / "copied.py").write_text(TRIVIAL_MODEL)


def _resources(root: Path) -> dict[str, Any]:
    return {
        "warehouse": Warehouse(path=str(root / "w.duckdb"), staging_dir=str(root / "staging")),
        "files": FileReader(root=str(root)),
    }


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _count(root: Path, table: str) -> int:
    with Warehouse(path=str(root / "w.duckdb"), staging_dir=str(root / "s")).read_only() as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def bench_pipes(root: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per run: the external model, and the plain asset doing the same work."""
    _project(root, with_model=True)
    resources = _resources(root)
    with DagsterInstance.ephemeral() as instance:
        defs = build_definitions(load_platform_catalog(root / "catalog"), resources)
        job = defs.resolve_job_def(INGEST_JOB)
        assert job.execute_in_process(
            instance=instance, asset_selection=[AssetKey(["bench", "t"])], run_config=QUIET
        ).success

        @asset(key=["models", "plain_copy"], required_resource_keys={"warehouse"})
        def plain_copy(context: AssetExecutionContext) -> MaterializeResult:
            warehouse: Warehouse = context.resources.warehouse
            with warehouse.read_only() as con:
                rows = con.execute(f"SELECT {EXPORTED} FROM bench.t").to_arrow_table()
            with warehouse.load("models", "plain_copy", context.run.run_id) as load:
                load.stage(rows)
                result = load.commit(WriteSpec("models", "plain_copy", "replace"))
            return MaterializeResult(metadata=result.metadata())

        def pipes() -> None:
            result = job.execute_in_process(
                instance=instance,
                asset_selection=[AssetKey(["models", "copied"])],
                run_config=QUIET,
            )
            assert result.success

        def plain() -> None:
            assert materialize(
                [plain_copy], instance=instance, resources=resources, run_config=QUIET
            ).success

        pipes_times, plain_times = [], []
        for n in range(rounds + 1):
            pipes_seconds, plain_seconds = _timed(pipes), _timed(plain)
            assert _count(root, "models.copied") == ROWS
            assert _count(root, "models.plain_copy") == ROWS
            if n:  # the first round warms both up
                pipes_times.append(pipes_seconds)
                plain_times.append(plain_seconds)
    return pipes_times, plain_times


@contextmanager
def _postgres_home(root: Path) -> Iterator[Path]:
    """A DAGSTER_HOME with deploy/postgres/dagster.yaml on a database of its own."""
    name = f"tributary_bench_{uuid.uuid4().hex[:10]}"
    server = psycopg2.connect(SERVER)
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    home = root / "postgres_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    saved = os.environ.get("TRIBUTARY_DAGSTER_POSTGRES_URL")
    os.environ["TRIBUTARY_DAGSTER_POSTGRES_URL"] = (
        f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    )
    try:
        yield home
    finally:
        if saved is None:
            os.environ.pop("TRIBUTARY_DAGSTER_POSTGRES_URL", None)
        else:
            os.environ["TRIBUTARY_DAGSTER_POSTGRES_URL"] = saved
        with server.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.close()


def bench_postgres(root: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per one-table run: on the PostgreSQL instance, and on a SQLite instance."""
    _project(root, with_model=False)
    defs = build_definitions(load_platform_catalog(root / "catalog"), _resources(root))
    job = defs.resolve_job_def(INGEST_JOB)
    sqlite_home = root / "sqlite_home"
    sqlite_home.mkdir()
    key = AssetKey(["bench", "t"])
    with (
        _postgres_home(root) as postgres_home,
        DagsterInstance.from_config(str(postgres_home)) as postgres,
        DagsterInstance.from_config(str(sqlite_home)) as sqlite,
    ):

        def run(instance: DagsterInstance) -> Callable[[], None]:
            def action() -> None:
                result = job.execute_in_process(
                    instance=instance, asset_selection=[key], run_config=QUIET
                )
                assert result.success
                event = instance.get_latest_materialization_event(key)
                assert event is not None and event.run_id == result.run_id

            return action

        postgres_times, sqlite_times = [], []
        for n in range(rounds + 1):
            postgres_seconds, sqlite_seconds = _timed(run(postgres)), _timed(run(sqlite))
            assert _count(root, "bench.t") == ROWS
            if n:
                postgres_times.append(postgres_seconds)
                sqlite_times.append(sqlite_seconds)
    return postgres_times, sqlite_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        pipes, plain = bench_pipes(work / "pipes", args.rounds)
        postgres, sqlite = bench_postgres(work / "postgres", args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    overhead = statistics.median(pipes) - statistics.median(plain)
    ratio = statistics.median(postgres) / statistics.median(sqlite)
    print(f"{ROWS:,} rows; medians of {args.rounds} rounds (each round's seconds beside them)")
    load = os.getloadavg()[0]
    print(
        f"load average {load:.1f} on {os.cpu_count()} CPUs "
        "(the Pipes figure is in seconds: it grows with the load)"
    )
    print(
        tabulate(
            [
                [name, f"{statistics.median(times):.3f}", " ".join(f"{t:.2f}" for t in times)]
                for name, times in (
                    ("pipes model run", pipes),
                    ("plain asset run", plain),
                    ("postgres instance run", postgres),
                    ("sqlite instance run", sqlite),
                )
            ],
            headers=["scenario", "median s", "rounds"],
        )
    )
    over_pipes = " OVER" if overhead > PIPES_OVERHEAD_TARGET else ""
    over_postgres = " OVER" if ratio > POSTGRES_TARGET else ""
    print(f"pipes overhead {overhead:+.3f} s (target <= {PIPES_OVERHEAD_TARGET} s){over_pipes}")
    print(f"postgres / sqlite instance {ratio:.2f}x (target <= {POSTGRES_TARGET}x){over_postgres}")
    failed = [what for what, over in (("pipes", over_pipes), ("postgres", over_postgres)) if over]
    if failed:
        sys.exit(f"bench.deploy: {', '.join(failed)} over target")


if __name__ == "__main__":
    main()
