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


def kill_during(directory: Path, phase: str, delay: float) -> None:
    """Run the load loop until generation 2 reaches `phase`, wait `delay`, then SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.resources.crash_loader", str(directory), str(ROWS)],
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


@pytest.mark.parametrize(("phase", "delay"), KILL_POINTS)
def test_a_killed_load_leaves_one_whole_generation(
    tmp_path: Path, phase: str, delay: float
) -> None:
    kill_during(tmp_path, phase, delay)

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
