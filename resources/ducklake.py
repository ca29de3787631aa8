"""DuckLake as the warehouse: a catalog in PostgreSQL, table data in Parquet files in a data path.

Several processes (and machines) may write at once. DuckLake commits each transaction as a
snapshot and retries on its own when two commits merely overlap in time; two transactions that
delete from (or update) the same table conflict for real. The writer therefore holds a PostgreSQL
advisory lock per target table, so two loads of one table take turns while loads of different
tables commit in parallel, and retries a whole transaction that lost a conflict on the platform's
own tables (`_tributary.state`, `_tributary.files`).

What DuckLake does not do, and the writer works around: PRIMARY KEY / UNIQUE constraints and
indexes (the platform's tables are created without them), ENUM columns (stored as VARCHAR), and
`INSERT OR REPLACE` (written as DELETE then INSERT on both backends).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_random_exponential

from resources.duckdb_extensions import load_extension, offline_config
from resources.duckdb_sql import literal, quote

if TYPE_CHECKING:  # the PostgreSQL driver loads for a DuckLake catalog in PostgreSQL only
    import psycopg

PREFIX = "ducklake:"
POSTGRES_PREFIX = "ducklake:postgres:"
ALIAS = "lake"
"""The name the lake is attached under (and made the default database) on every connection."""
DATA_PATH_VARIABLE = "TRIBUTARY_DATA_PATH"
ATTACH_LOCK = "tributary attach"
"""Advisory lock held while a lake's catalog is created (its first ATTACH)."""
CATALOG_TABLE = "ducklake_metadata"
"""A table of the catalog, created with the others in the first ATTACH's transaction."""
_SWEEP_KEY = "tributary:sweep"
"""Advisory lock every writer holds shared; whoever gets it exclusive is the only writer, and
may drop the batch tables of dead ones."""


class LockTimeout(TimeoutError):
    """Another writer held the table longer than the writer was willing to wait."""


def is_target(path: str) -> bool:
    """Whether a warehouse path names a DuckLake (`ducklake:...`) rather than a DuckDB file."""
    return path.startswith(PREFIX)


def check_target(path: str, data_path: str | None) -> None:
    """Raise ValueError unless `path` is `ducklake:postgres:<libpq keywords>` with a data path."""
    if not path.startswith(POSTGRES_PREFIX) or not path.removeprefix(POSTGRES_PREFIX).strip():
        raise ValueError(
            f"{path!r}: a shared warehouse is 'ducklake:postgres:dbname=... host=...' "
            "(the catalog in PostgreSQL)"
        )
    if not data_path:
        raise ValueError(f"{path!r} needs a data path (DATA_PATH) for its Parquet files")


def postgres_dsn(path: str) -> str:
    """The libpq connection string of the lake's PostgreSQL catalog."""
    return path.removeprefix(POSTGRES_PREFIX)


@dataclass(frozen=True)
class Lake:
    """Where a lake lives: its catalog (`ducklake:postgres:...`) and its data path."""

    target: str
    data_path: str

    def connect(
        self,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with the lake attached as `lake` and in use, its
        extensions loaded offline (see `resources.duckdb_extensions`). Raises
        ExtensionUnavailableError or duckdb.Error."""
        import psycopg

        config: dict[str, Any] = offline_config()
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if temp_directory is not None:
            config["temp_directory"] = str(temp_directory)
        con = duckdb.connect(config=config)
        try:
            for name in ("postgres", "ducklake"):
                load_extension(con, name)
            attach = (
                f"ATTACH {literal(self.target)} AS {ALIAS} (DATA_PATH {literal(self.data_path)}"
            )
            # The first ATTACH creates the catalog's tables and types: two processes doing it at
            # once collide in PostgreSQL (a duplicate type), so creating it takes turns. A lake
            # whose catalog is there is attached at once, beside other writers.
            with psycopg.connect(postgres_dsn(self.target), autocommit=True) as pg:
                if not _catalog_exists(pg):
                    pg.execute("SELECT pg_advisory_lock(%s)", [_key(ATTACH_LOCK)])
                    self._attach(con, attach, read_only)
            if not _attached(con):
                self._attach(con, attach, read_only)
            con.execute(f"USE {ALIAS}")
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    def _attach(con: duckdb.DuckDBPyConnection, attach: str, read_only: bool) -> None:
        """Run `attach` (the ATTACH statement, its options left open) on `con`."""
        if read_only:
            try:
                con.execute(f"{attach}, READ_ONLY)")
            except duckdb.InvalidInputException as error:
                if "does not exist" not in str(error):
                    raise
                # A lake nothing was written to yet: create its (empty) catalog, so that
                # readers find no table rather than no lake.
                con.execute(f"{attach})")
                con.execute(f"DETACH {ALIAS}")
                con.execute(f"{attach}, READ_ONLY)")
        else:
            con.execute(f"{attach})")

    def cursor(
        self,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """A new connection (own transactions, own temporary tables) on this process's DuckDB
        instance for the lake, made on first use by `connect`: loading the two extensions and
        attaching the lake costs more than most loads, so it is paid once per process (and per
        read-only/read-write mode; a different lake or memory limit replaces the instance)."""
        key = (os.getpid(), self, read_only, memory_limit)
        with _instance_locks[read_only]:
            held = _instances.get(read_only)
            if held is None or held[0] != key:
                if held is not None and held[0][0] == os.getpid():
                    with contextlib.suppress(duckdb.Error):
                        held[1].close()
                instance = self.connect(
                    read_only=read_only, memory_limit=memory_limit, temp_directory=temp_directory
                )
                held = (key, instance)
                _instances[read_only] = held
            con = held[1].cursor()
        con.execute(f"USE {ALIAS}")
        return con

    def warm(
        self, *, memory_limit: str | None = None, temp_directory: Path | None = None
    ) -> threading.Thread:
        """Make this process's read-write instance for the lake (see `cursor`) in a background
        thread, so that a load's commit finds it ready instead of loading the extensions and
        attaching the lake then. Errors are left for the commit to meet and raise."""

        def make() -> None:
            with contextlib.suppress(Exception):
                self.cursor(memory_limit=memory_limit, temp_directory=temp_directory).close()

        thread = threading.Thread(target=make, name="tributary-lake-attach", daemon=True)
        thread.start()
        return thread


_instances: dict[bool, tuple[tuple[int, Lake, bool, str | None], duckdb.DuckDBPyConnection]] = {}
"""The process's DuckDB instance with a lake attached, read-write and read-only (by the pid that
made it: a forked child makes its own)."""
_instance_locks = {False: threading.Lock(), True: threading.Lock()}
"""One per mode, held while its instance is made: a reader need not wait for a writer's attach."""


def _new_locks() -> None:
    # A child forked while a background attach held a lock must not inherit it held.
    global _instance_locks
    _instance_locks = {False: threading.Lock(), True: threading.Lock()}


os.register_at_fork(after_in_child=_new_locks)
writer_lock = threading.Lock()
"""Writers of one process take turns on its shared instance: staging files are attached to the
instance under fixed names. Writers in other processes go on in parallel."""


def _catalog_exists(pg: psycopg.Connection[Any]) -> bool:
    row = pg.execute("SELECT to_regclass(%s) IS NOT NULL", [CATALOG_TABLE]).fetchone()
    return bool(row and row[0])


def _attached(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [ALIAS]
    ).fetchone()
    return bool(row and row[0])


def is_ducklake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `con`'s default database is a DuckLake."""
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is not None and row[0] == "ducklake"


def is_conflict(error: BaseException) -> bool:
    """A DuckLake commit that lost to another transaction (retry the whole transaction)."""
    return isinstance(error, duckdb.TransactionException) and "conflict" in str(error).lower()


def _key(name: str) -> int:
    """A 64-bit advisory lock key for `name`."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def writer_locks(dsn: str, table: str | None, timeout: float) -> Iterator[psycopg.Connection[Any]]:
    """Hold the writer's advisory locks in the catalog database for the block: the table's
    (exclusive, waiting at most `timeout` seconds, else LockTimeout) when `table` is given, and
    the sweep lock shared. Yields the PostgreSQL session; see `sweep_if_alone`."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as pg:
        if table is not None:
            key = _key(f"tributary:table:{table}")
            got = Retrying(
                retry=retry_if_result(lambda held: not held),
                wait=wait_random_exponential(multiplier=0.02, max=0.5),
                stop=stop_after_delay(timeout),
                retry_error_callback=lambda _state: False,
            )(lambda: _try_lock(pg, key))
            if not got:
                raise LockTimeout(f"{table} is being written by another load (waited {timeout}s)")
        yield pg


def _try_lock(pg: psycopg.Connection[Any], key: int) -> bool:
    row = pg.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
    return bool(row and row[0])


def sweep_if_alone(pg: psycopg.Connection[Any], sweep: Callable[[], None]) -> None:
    """Run `sweep` (drop the batch tables of dead writers) when no other writer is at work
    (every live writer holds the sweep lock shared), then join the others by taking it shared."""
    key = _key(_SWEEP_KEY)
    if _try_lock(pg, key):
        try:
            sweep()
        finally:
            pg.execute("SELECT pg_advisory_unlock(%s)", [key])
    pg.execute("SELECT pg_advisory_lock_shared(%s)", [key])


@dataclass(frozen=True)
class Maintenance:
    """What one maintenance pass did."""

    merged_files: int
    expired_snapshots: int
    deleted_files: int


def maintain(con: duckdb.DuckDBPyConnection, older_than: timedelta) -> Maintenance:
    """Compact the lake attached as `lake` on `con` (read-write): merge adjacent small Parquet
    files of every table, expire snapshots older than `older_than` (time travel before that is
    gone), and delete the files no snapshot refers to any more. Raises duckdb.Error."""
    lake = literal(ALIAS)
    merged = con.execute(f"CALL ducklake_merge_adjacent_files({lake})").fetchall()
    cutoff = datetime.now(UTC) - older_than
    expired = con.execute(
        f"CALL ducklake_expire_snapshots({lake}, older_than => ?::TIMESTAMPTZ)", [cutoff]
    ).fetchall()
    deleted = con.execute(
        f"CALL ducklake_cleanup_old_files({lake}, cleanup_all => true)"
    ).fetchall()
    return Maintenance(len(merged), len(expired), len(deleted))


def snapshot_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many snapshots the lake keeps."""
    row = con.execute(f"SELECT count(*) FROM ducklake_snapshots({literal(ALIAS)})").fetchone()
    return int(row[0]) if row else 0


def data_file_count(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    """How many Parquet files the current snapshot of `schema.table` reads."""
    row = con.execute(
        f"SELECT count(*) FROM ducklake_list_files({literal(ALIAS)}, ?, schema => ?)",
        [table, schema],
    ).fetchone()
    return int(row[0]) if row else 0


_ENUM = re.compile(r"^ENUM\(", re.IGNORECASE)


def without_enums(con: duckdb.DuckDBPyConnection, select_sql: str) -> str:
    """`select_sql` with its ENUM columns cast to VARCHAR (DuckLake has no ENUM type)."""
    described = con.execute(f"DESCRIBE ({select_sql})").fetchall()
    enums = [str(name) for name, kind, *_ in described if _ENUM.match(str(kind))]
    if not enums:
        return select_sql
    casts = ", ".join(f"{quote(name)}::VARCHAR AS {quote(name)}" for name in enums)
    return f"SELECT * REPLACE ({casts}) FROM ({select_sql})"
