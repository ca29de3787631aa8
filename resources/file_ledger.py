"""The file ledger, `_tributary.files`: which version of each file a table's rows were read from.

A version is a file's size and modification time, with a content hash where it is cheap to take
(small files), so a file touched but not changed is not read again. The ledger is written in the
transaction that lands the rows, so it always agrees with the table: after any crash, a file's
rows are in the table once (and the ledger names its version) or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

CHEAP_HASH_BYTES = 8 << 20
"""Files up to this size get a content hash; larger ones are told apart by size and time only."""


@dataclass(frozen=True)
class FileVersion:
    """One file as it is now: `name` as its rows' `_source_file` gives it, `path` on disk,
    `size` in bytes, `modified_ns` (ns since the epoch)."""

    name: str
    path: Path
    size: int
    modified_ns: int

    @classmethod
    def of(cls, name: str, path: Path) -> FileVersion:
        stat = path.stat()
        return cls(name, path, stat.st_size, stat.st_mtime_ns)

    def content_hash(self) -> str | None:
        """sha256 of the content, for files of at most `CHEAP_HASH_BYTES`; else None."""
        if self.size > CHEAP_HASH_BYTES:
            return None
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None


@dataclass(frozen=True)
class Recorded:
    size: int
    modified_ns: int
    content_hash: str | None


@dataclass(frozen=True)
class FilePlan:
    """What a load of files reads: the versions to read, and which of them replace a version
    read before (their earlier rows go)."""

    read: tuple[FileVersion, ...]
    hashes: dict[str, str | None]
    replaced: tuple[str, ...]
    """Names of files read before whose content changed."""
    touched: tuple[FileVersion, ...] = ()
    """Files whose time changed but whose content did not: recorded again, not read."""


def recorded(con: duckdb.DuckDBPyConnection, source: str, table: str) -> dict[str, Recorded]:
    """The ledger of one table: file name → the version last read."""
    rows = con.execute(
        "SELECT path, size, modified_ns, content_hash FROM _tributary.files "
        "WHERE source = ? AND table_name = ?",
        [source, table],
    ).fetchall()
    return {str(name): Recorded(int(size), int(ns), digest) for name, size, ns, digest in rows}


def plan(versions: Sequence[FileVersion], ledger: dict[str, Recorded], read_all: bool) -> FilePlan:
    """The files to read: all of them when `read_all` (replace, a full refresh), else those new
    or changed since the ledger's version."""
    read: list[FileVersion] = []
    hashes: dict[str, str | None] = {}
    touched: list[FileVersion] = []
    for version in versions:
        before = ledger.get(version.name)
        same_stat = before is not None and (before.size, before.modified_ns) == (
            version.size,
            version.modified_ns,
        )
        if same_stat and not read_all:
            continue
        digest = version.content_hash()
        if (
            not read_all
            and before is not None
            and digest is not None
            and before.size == version.size
            and before.content_hash == digest
        ):
            touched.append(version)
            hashes[version.name] = digest
            continue
        read.append(version)
        hashes[version.name] = digest
    replaced = tuple(v.name for v in read if v.name in ledger)
    return FilePlan(tuple(read), hashes, replaced, tuple(touched))


def record(
    con: duckdb.DuckDBPyConnection,
    source: str,
    table: str,
    versions: Iterable[FileVersion],
    hashes: dict[str, str | None],
    load_id: str,
    at: datetime,
) -> None:
    """Record `versions` as read by `load_id` (in the load's transaction)."""
    versions = list(versions)
    if not versions:
        return
    # DELETE then INSERT rather than INSERT OR REPLACE: a DuckLake warehouse has no primary key.
    con.execute(
        "DELETE FROM _tributary.files WHERE source = ? AND table_name = ? "
        "AND list_contains(?::VARCHAR[], path)",
        [source, table, [v.name for v in versions]],
    )
    con.executemany(
        "INSERT INTO _tributary.files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [source, table, v.name, v.size, v.modified_ns, hashes.get(v.name), load_id, at]
            for v in versions
        ],
    )


def forget(con: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """Clear the table's ledger (a replace or a full refresh records what it read afresh)."""
    con.execute("DELETE FROM _tributary.files WHERE source = ? AND table_name = ?", [source, table])
