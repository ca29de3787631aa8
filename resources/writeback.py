"""Write a database file back to disk while DuckDB is still writing it, so commits wait for little.

DuckDB writes a large batch's blocks into the file as the statement runs, then its COMMIT makes
them durable with one fsync. Left to the kernel, those hundreds of megabytes stay dirty in the page
cache until that fsync, which then waits for all of them with the CPUs idle (0.2-0.3 s of a 5M-row
load). Syncing the file every fraction of a second while a writer holds it writes them back while
DuckDB computes, and the commit finds almost nothing left to write. PostgreSQL's
`checkpoint_flush_after` does the same for its own checkpoints.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

_sync = getattr(os, "fdatasync", os.fsync)
"""Data only where the platform has it (Linux); a full fsync elsewhere."""


@contextlib.contextmanager
def background_writeback(path: Path, every_seconds: float) -> Iterator[None]:
    """Sync `path` to disk every `every_seconds` until the block exits (0 turns it off).

    The block must enclose the closing of the database connection that holds the file. Closing any
    descriptor of a file drops every POSIX lock the process holds on it, DuckDB's included, so
    the descriptor synced here is closed only on the way out, once DuckDB has let go of the file.

    The sync runs on a thread of its own and only ever adds durability: DuckDB's commits still
    sync for themselves. Where the file cannot be opened or the thread not started, the block
    runs without it; a sync that fails ends the thread quietly and the next commit reports it.
    """
    fd = _open(path) if every_seconds > 0 else None
    if fd is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_sync_until_stopped, args=(fd, stop, every_seconds), name="writeback", daemon=True
    )
    try:
        with contextlib.suppress(RuntimeError):
            thread.start()
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        os.close(fd)


def _open(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def _sync_until_stopped(fd: int, stop: threading.Event, every_seconds: float) -> None:
    while not stop.wait(every_seconds):
        try:
            _sync(fd)
        except OSError:
            return
