"""A DuckLake warehouse (catalog in PostgreSQL, Parquet data): several writers, kill -9, compaction.

The writer's behaviour on both backends is in test_warehouse.py (parametrized); this file holds
what only a lake has: writers in several processes at once, and its maintenance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pytest

from resources import ducklake
from resources.duckdb_extensions import OFFLINE_CONFIG, load_extension, offline_config
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from tests.conftest import REPO, lake_database, lake_warehouse_at
from tests.resources.crash_loader import children

WRITER = """
import sys
from pathlib import Path

import pyarrow as pa

from resources.write_dispositions import WriteSpec
from tests.conftest import lake_warehouse_at

root, database, table, first, count, write = sys.argv[1:7]
warehouse = lake_warehouse_at(Path(root), database)
ids = range(int(first), int(first) + int(count))
for part in range(4):
    with warehouse.load("src", table) as load:
        n = len(ids)
        load.stage(pa.table({"id": list(ids), "part": [part] * n, "writer": [first] * n}))
        load.commit(WriteSpec("src", table, write, ("id",) if write == "merge" else ()))
"""


def writers(
    root: Path, database: str, jobs: list[tuple[str, int, int, str]]
) -> list[subprocess.CompletedProcess[str]]:
    """Run one writer process per (table, first id, rows, write) at once; each lands 4 batches."""
    started = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), database, table, str(first), str(n), write],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for table, first, n, write in jobs
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def test_the_extensions_load_from_their_wheels_with_downloads_off(tmp_path: Path) -> None:
    con = duckdb.connect(config=offline_config(tmp_path / "extensions"))
    load_extension(con, "ducklake")

    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions')"
        ).fetchall()
    )
    assert settings == {k: "false" for k in OFFLINE_CONFIG}
    assert list((tmp_path / "extensions").rglob("ducklake.duckdb_extension"))
    assert con.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'ducklake'"
    ).fetchone() == (True,)


def test_a_lake_needs_a_postgres_catalog_and_a_data_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a data path"):
        Warehouse(path="ducklake:postgres:dbname=x", staging_dir=str(tmp_path))
    with pytest.raises(ValueError, match="catalog in PostgreSQL"):
        Warehouse(path="ducklake:metadata.ducklake", data_path="d", staging_dir=str(tmp_path))


def test_loads_of_different_tables_in_several_processes_all_commit(
    lake_warehouse: Warehouse, tmp_path: Path
) -> None:
    database = lake_warehouse.path.split("dbname=")[1].split()[0]
    done = writers(tmp_path, database, [("a", 0, 1000, "append"), ("b", 0, 1000, "append")])

    assert [p.returncode for p in done] == [0, 0], [p.stderr[-2000:] for p in done]
    with lake_warehouse.read_only() as con:
        counts = con.execute(
            "SELECT table_name, count(*) FILTER (status = 'succeeded'), count(*) "
            "FROM _tributary.loads GROUP BY 1 ORDER BY 1"
        ).fetchall()
        rows = [con.execute(f"SELECT count(*) FROM src.{t}").fetchone() for t in ("a", "b")]
    assert counts == [("a", 4, 4), ("b", 4, 4)]
    assert rows == [(4000,), (4000,)]


def test_two_merges_of_one_table_at_once_both_land(
    lake_warehouse: Warehouse, tmp_path: Path
) -> None:
    """Merges of one table conflict for real in DuckLake: the writer makes them take turns."""
    database = lake_warehouse.path.split("dbname=")[1].split()[0]
    # Overlapping keys: ids 500-999 are written by both writers, each four times.
    done = writers(tmp_path, database, [("m", 0, 1000, "merge"), ("m", 500, 1000, "merge")])

    assert [p.returncode for p in done] == [0, 0], [p.stderr[-2000:] for p in done]
    with lake_warehouse.read_only() as con:
        stored = con.execute(
            "SELECT count(*), count(DISTINCT id), min(id), max(id), max(part) FROM src.m"
        ).fetchone()
        loads = con.execute(
            "SELECT count(*) FROM _tributary.loads WHERE status = 'succeeded'"
        ).fetchone()
        last = con.execute(
            "SELECT writer FROM _tributary.loads l JOIN src.m ON m._load_id::VARCHAR = l.load_id "
            "WHERE id BETWEEN 500 AND 999 GROUP BY 1"
        ).fetchall()
    assert stored == (1500, 1500, 0, 1499, 3)
    assert loads == (8,)
    assert len(last) == 1, "the shared keys hold one writer's last batch, whole"


def test_a_merge_waits_for_the_table_and_gives_up_after_the_lock_timeout(
    tmp_path: Path,
) -> None:
    with lake_database() as database:
        impatient = lake_warehouse_at(tmp_path, database, lock_timeout_seconds=0.3)
        with (
            ducklake.writer_locks(ducklake.postgres_dsn(impatient.path), '"src"."items"', 1.0),
            impatient.load("src", "items") as load,
        ):
            load.stage(pa.table({"id": [1]}))
            with pytest.raises(ducklake.LockTimeout, match="being written by another load"):
                load.commit(WriteSpec("src", "items", "merge", ("id",)))
        other = impatient.stored_columns("src", "items")
    assert other is None


def test_a_parent_and_its_child_table_merge_in_one_lake_snapshot(
    lake_warehouse: Warehouse, tmp_path: Path
) -> None:
    children(lake_warehouse, 1, 100, tmp_path)
    children(lake_warehouse, 2, 60, tmp_path)

    with lake_warehouse.read_only() as con:
        parents = con.execute(
            "SELECT generation, count(*) FROM src.issues GROUP BY 1 ORDER BY 1"
        ).fetchall()
        labels = con.execute(
            "SELECT generation, count(*) FROM src.issues__labels GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert parents == [(1, 40), (2, 60)]
        assert labels == [(1, 80), (2, 120)]
        assert con.execute(
            "SELECT count(DISTINCT load_id), count(*) FROM _tributary.loads"
        ).fetchone() == (4, 4)


KILL_POINTS = [("commit", 0.0), ("commit", 0.5), ("done", 0.0)]


@pytest.mark.parametrize(("phase", "delay"), KILL_POINTS)
def test_a_killed_load_leaves_one_whole_generation_in_the_lake(
    tmp_path: Path, phase: str, delay: float
) -> None:
    with lake_database() as database:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.resources.crash_loader",
                str(tmp_path),
                "300000",
                "replace",
                database,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.split() == [phase, "2"]:
                    time.sleep(delay)
                    break
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        warehouse = lake_warehouse_at(tmp_path, database)
        with warehouse.read_only() as con:
            rows, generations, generation = con.execute(
                "SELECT count(*), count(DISTINCT generation), max(generation) FROM src.items"
            ).fetchone()  # type: ignore[misc]
            (cursor,) = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()  # type: ignore[misc]
            (loads,) = con.execute(
                "SELECT count(*) FROM _tributary.loads WHERE status = 'succeeded'"
            ).fetchone()  # type: ignore[misc]
        # The next writer, alone, drops a batch table the killed one committed.
        scratch = warehouse.transaction(
            lambda con: con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '__batch_') "
                "AND database_name = current_database()"
            ).fetchone()
        )

    assert (rows, generations) == (300_000, 1)
    assert cursor == str(generation)
    assert loads == generation
    assert scratch == (0,)


def test_maintenance_merges_small_files_and_expires_snapshots(
    lake_warehouse: Warehouse,
) -> None:
    for n in range(6):
        with lake_warehouse.load("src", "items") as load:
            load.stage(pa.table({"id": list(range(n * 2000, (n + 1) * 2000))}))
            load.commit(WriteSpec("src", "items", "append"))
    with lake_warehouse.read_only() as con:
        files_before = ducklake.data_file_count(con, "src", "items")
        snapshots_before = ducklake.snapshot_count(con)

    done = lake_warehouse.maintain(timedelta(0))

    with lake_warehouse.read_only() as con:
        assert ducklake.data_file_count(con, "src", "items") < files_before
        assert ducklake.snapshot_count(con) < snapshots_before
        assert con.execute("SELECT count(*), sum(id) FROM src.items").fetchone() == (
            12000,
            sum(range(12000)),
        )
    assert done.merged_files > 0 and done.expired_snapshots > 0


def test_a_duckdb_file_is_not_compacted(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="only a DuckLake"):
        warehouse.maintain(timedelta(days=1))


def test_attaching_a_lake_whose_catalog_exists_does_not_wait_for_its_creation_lock(
    lake_warehouse: Warehouse,
) -> None:
    lake = lake_warehouse.lake
    assert lake is not None
    lake.connect().close()  # the catalog exists now
    attached: list[bool] = []

    def attach() -> None:
        con = lake.connect()
        attached.append(ducklake.is_ducklake(con))
        con.close()

    with psycopg.connect(ducklake.postgres_dsn(lake.target), autocommit=True) as pg:
        pg.execute("SELECT pg_advisory_lock(%s)", [ducklake._key(ducklake.ATTACH_LOCK)])
        other = threading.Thread(target=attach)
        other.start()
        other.join(timeout=120)
        waited = other.is_alive()
    other.join()
    assert not waited, "attaching waited for the lock that only creating the catalog needs"
    assert attached == [True]


def test_a_load_attaches_the_lake_while_it_stages(lake_warehouse: Warehouse) -> None:
    lake = lake_warehouse.lake
    assert lake is not None

    def attached() -> bool:
        held = ducklake._instances.get(False)
        return held is not None and held[0][:2] == (os.getpid(), lake)

    with lake_warehouse.load("src", "items") as load:
        load.stage(pa.table({"id": [1, 2]}))
        deadline = time.monotonic() + 120
        while not attached() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert attached(), "the lake was not attached before the commit"
        result = load.commit(WriteSpec("src", "items", "append"))
    assert result.inserted == 2
