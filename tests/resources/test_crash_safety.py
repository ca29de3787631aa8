"""Killing a load with SIGKILL at any moment leaves one whole generation and a matching cursor."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from tests.conftest import REPO

ROWS = 1_000_000

# (phase to wait for, seconds to wait after it): staging, the transaction, and after the commit.
KILL_POINTS = [
    ("staging", 0.0),
    ("staging", 0.05),
    ("staging", 0.15),
    ("commit", 0.0),
    ("commit", 0.02),
    ("commit", 0.05),
    ("commit", 0.1),
    ("commit", 0.2),
    ("commit", 0.35),
    ("commit", 0.5),
    ("done", 0.0),
    ("done", 0.01),
]


def kill_during(
    directory: Path, phase: str, delay: float, mode: str = "replace", rows: int = ROWS
) -> None:
    """Run the load loop until generation 2 reaches `phase`, wait `delay`, then SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.resources.crash_loader", str(directory), str(rows), mode],
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


SESSION_KILL_POINTS = [("commit", 0.0), ("commit", 0.1), ("commit", 0.35), ("done", 0.0)]


@pytest.mark.parametrize(
    ("phase", "delay", "mode"),
    [(*p, "replace") for p in KILL_POINTS] + [(*p, "session") for p in SESSION_KILL_POINTS],
)
def test_a_killed_load_leaves_one_whole_generation(
    tmp_path: Path, phase: str, delay: float, mode: str
) -> None:
    """Also when the loads commit through one writer session that holds the warehouse across
    generations."""
    kill_during(tmp_path, phase, delay, mode)

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rows, generations, generation = con.execute(
            "SELECT count(*), count(DISTINCT generation), max(generation) FROM src.items"
        ).fetchone()  # type: ignore[misc]
        (cursor,) = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()  # type: ignore[misc]
        (loads,) = con.execute(
            "SELECT count(*) FROM _tributary.loads WHERE status = 'succeeded'"
        ).fetchone()  # type: ignore[misc]
    warehouse = Warehouse(
        path=str(tmp_path / "warehouse.duckdb"), staging_dir=str(tmp_path / "stage")
    )
    scratch = warehouse.transaction(
        lambda con: con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '__batch_')"
        ).fetchone()
    )

    assert (rows, generations) == (ROWS, 1)
    assert cursor == str(generation)
    assert loads == generation
    assert scratch == (0,)  # a batch table the killed load left is dropped by the next writer


def test_the_next_load_sweeps_staging_files_of_killed_loads(tmp_path: Path) -> None:
    kill_during(tmp_path, "commit", 0.0)
    assert list((tmp_path / "stage").iterdir())
    warehouse = Warehouse(
        path=str(tmp_path / "warehouse.duckdb"), staging_dir=str(tmp_path / "stage")
    )

    with warehouse.load("src", "other") as load:
        load.stage(pa.table({"id": [1]}))
        load.commit(WriteSpec("src", "other", "append"))

    assert list((tmp_path / "stage").iterdir()) == []


PARENT_ROWS = 200_000
"""Parents per generation in the child-table loop (each with two child rows): merging them
takes about as long as replacing `ROWS`, so the kill points fall across the commit."""
CHILD_KILL_POINTS = [p for p in KILL_POINTS if p[0] != "staging" or p[1] == 0.0]


def read_only(directory: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(directory / "warehouse.duckdb"), read_only=True)


@pytest.mark.parametrize(("phase", "delay"), CHILD_KILL_POINTS)
def test_a_killed_load_leaves_parent_and_children_of_one_generation(
    tmp_path: Path, phase: str, delay: float
) -> None:
    kill_during(tmp_path, phase, delay, mode="children", rows=PARENT_ROWS)

    with read_only(tmp_path) as con:
        parents = con.execute(
            "SELECT count(*), count(DISTINCT generation), max(generation) FROM src.issues"
        ).fetchone()
        children = con.execute(
            "SELECT count(*), count(DISTINCT generation), max(generation) FROM src.issues__labels"
        ).fetchone()
        (cursor,) = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()  # type: ignore[misc]
        loads = con.execute(
            "SELECT table_name, count(*) FROM _tributary.loads WHERE status = 'succeeded' "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert parents is not None and children is not None
    generation = parents[2]

    assert parents == (PARENT_ROWS, 1, generation)
    assert children == (2 * PARENT_ROWS, 1, generation)
    assert cursor == str(generation)
    assert loads == [("issues", generation), ("issues__labels", generation)]


FILE_ROWS = 300_000
"""Rows per file in the file loop: each load appends a new file and a changed one."""


@pytest.mark.parametrize(("phase", "delay"), CHILD_KILL_POINTS)
def test_a_killed_load_of_files_leaves_each_file_once_or_not_at_all_as_the_ledger_says(
    tmp_path: Path, phase: str, delay: float
) -> None:
    kill_during(tmp_path, phase, delay, mode="files", rows=FILE_ROWS)

    with read_only(tmp_path) as con:
        files = con.execute(
            "SELECT _source_file::VARCHAR, count(*), count(DISTINCT generation), "
            "count(DISTINCT _load_id), any_value(_load_id)::VARCHAR "
            "FROM src.events GROUP BY 1 ORDER BY 1"
        ).fetchall()
        ledger = con.execute(
            "SELECT f.path, f.load_id, l.status FROM _tributary.files f "
            "JOIN _tributary.loads l USING (load_id) ORDER BY 1"
        ).fetchall()

    assert files, "the first generation committed before the kill"
    assert all(rows == FILE_ROWS and versions == 1 for _, rows, versions, _, _ in files)
    assert all(loads == 1 for _, _, _, loads, _ in files)
    assert ledger == [(name, load_id, "succeeded") for name, _, _, _, load_id in files]
