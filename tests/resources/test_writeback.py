"""Background writeback: while a writer holds the warehouse, its file is synced to disk as it goes,
so a commit finds little left to write. Only the file's own syncs are recorded here; each one
still reaches the disk."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from resources import writeback
from resources.warehouse import Warehouse


@pytest.fixture
def synced_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The path of every file the writeback thread syncs, in order."""
    synced: list[str] = []
    real_sync = writeback._sync

    def recording_sync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_sync(fd)

    monkeypatch.setattr(writeback, "_sync", recording_sync)
    yield synced


def warehouse_at(tmp_path: Path, writeback_seconds: float) -> Warehouse:
    return Warehouse(
        path=str(tmp_path / "w.duckdb"),
        staging_dir=str(tmp_path / "staging"),
        writeback_seconds=writeback_seconds,
    )


def wait_for(synced: list[str], timeout: float = 10.0) -> None:
    """Poll until something was synced (a writer's first sync comes within its interval)."""
    deadline = time.monotonic() + timeout
    while not synced and time.monotonic() < deadline:
        time.sleep(0.01)


def writeback_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "writeback"]


def test_a_writer_syncs_the_warehouse_file_while_it_holds_it(
    tmp_path: Path, synced_files: list[str]
) -> None:
    warehouse = warehouse_at(tmp_path, writeback_seconds=0.01)
    with warehouse.writer() as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(100000)")
        wait_for(synced_files)
        assert writeback_threads()
    after_close = len(synced_files)
    time.sleep(0.1)

    assert set(synced_files) == {str(warehouse.file.resolve())}
    assert len(synced_files) == after_close, "the thread stops with the writer"
    assert not writeback_threads()


def test_the_writeback_stops_when_the_writer_fails(tmp_path: Path) -> None:
    warehouse = warehouse_at(tmp_path, writeback_seconds=0.01)
    with pytest.raises(RuntimeError), warehouse.writer():
        assert writeback_threads()
        raise RuntimeError("the load failed")

    assert not writeback_threads()


def test_writeback_can_be_left_to_commits(tmp_path: Path, synced_files: list[str]) -> None:
    warehouse = warehouse_at(tmp_path, writeback_seconds=0)
    with warehouse.writer() as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(100000)")
        assert not writeback_threads()
        time.sleep(0.1)

    assert synced_files == []


class ProbedConnection:
    """A warehouse connection that, as it is about to close, asks another process to open the
    file read-write: while this connection is open that must fail on DuckDB's lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self._con = con
        self._path = path
        self.opened_by_another_process: bool | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        probe = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", self._path],
            capture_output=True,
            text=True,
        )
        self.opened_by_another_process = probe.returncode == 0
        self._con.close()


def test_the_warehouse_stays_locked_until_its_connection_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it,
    DuckDB's included; the writeback's own descriptor must outlive DuckDB's connection."""
    warehouse = warehouse_at(tmp_path, writeback_seconds=0.01)
    connections: list[ProbedConnection] = []
    real_connect = duckdb.connect

    def probed_connect(path: str, **kwargs: Any) -> ProbedConnection:
        connections.append(ProbedConnection(real_connect(path, **kwargs), path))
        return connections[-1]

    monkeypatch.setattr(duckdb, "connect", probed_connect)
    with warehouse.writer() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")

    assert connections[0].opened_by_another_process is False
