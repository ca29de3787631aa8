"""The warehouse writer: every source kind lands its batches through here.

A load stages its batch in a private DuckDB file (no warehouse lock held while a source is read),
or plans a scan of local files. Holding the warehouse, it writes the batch into a scratch table,
then judges and lands it with the load record, the incremental cursor and any schema changes in
one transaction. Writers are serialized by a file lock; readers retry while a writer commits.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import duckdb
import pyarrow as pa
from dagster import ConfigurableResource
from filelock import FileLock
from pydantic import Field, field_validator
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from resources.duckdb_client import scratch_connection
from resources.duckdb_sql import literal, quote, widen
from resources.quarantine import record_verdict
from resources.schema_evolution import SchemaChange
from resources.warehouse_schema import ensure_platform_schema
from resources.write_dispositions import (
    Lineage,
    WriteOutcome,
    WriteSpec,
    create_batch,
    drop_batch,
    drop_orphan_batches,
    schema_exists,
    write_batch,
    write_nothing,
)
from resources.writeback import background_writeback

if TYPE_CHECKING:
    from checks.gate import Verdict

Gate: TypeAlias = "Callable[[duckdb.DuckDBPyConnection, str], Verdict]"
"""Judges the batch table inside the load's transaction (see `checks.gate.QualityGate`)."""

StagedData: TypeAlias = duckdb.DuckDBPyRelation | pa.Table | pa.RecordBatchReader
_STAGED_TYPES = (duckdb.DuckDBPyRelation, pa.Table, pa.RecordBatchReader)
STAGED_TABLE = "staged"
FAILURE_RECORD_SECONDS = 5.0
"""How long recording a failed load waits for the warehouse (see `Load.fail`)."""
_T = TypeVar("_T")


def is_lock_conflict(error: BaseException) -> bool:
    """DuckDB's error when another process holds the file (`Conflicting lock is held`)."""
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def retry_while_locked(action: Callable[[], _T], timeout: float) -> _T:
    """Run `action`, retrying with jittered backoff while another process holds the warehouse."""
    retrying = Retrying(
        retry=retry_if_exception(is_lock_conflict),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(timeout),
        reraise=True,
    )
    return retrying(action)


def in_transaction(
    con: duckdb.DuckDBPyConnection, work: Callable[[duckdb.DuckDBPyConnection], _T]
) -> _T:
    """Run `work` in one transaction: all of it commits, or none of it."""
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_platform_schema(con)
        result = work(con)
        con.execute("COMMIT")
        return result
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_load_id() -> str:
    """A UUIDv7: unique, and sortable by the time it was made."""
    with scratch_connection() as con:
        row = con.execute("SELECT uuidv7()::VARCHAR").fetchone()
    assert row is not None
    return str(row[0])


@dataclass
class LoadResult:
    load_id: str
    source: str
    table: str
    write: str
    rows_in: int
    inserted: int
    updated: int
    deleted: int
    bytes: int
    requests: int
    retries: int
    seconds: float
    lock_wait_seconds: float
    commit_seconds: float
    cursor: str | None
    schema_changes: list[SchemaChange] = field(default_factory=list)
    verdict: Verdict | None = None
    quarantined: int = 0

    @property
    def blocked(self) -> bool:
        return self.verdict is not None and self.verdict.blocked

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "load_id": self.load_id,
            "write": self.write,
            "rows_in": self.rows_in,
            "rows_inserted": self.inserted,
            "rows_updated": self.updated,
            "rows_deleted": self.deleted,
            "bytes_read": self.bytes,
            "requests": self.requests,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "lock_wait_seconds": round(self.lock_wait_seconds, 3),
            "commit_seconds": round(self.commit_seconds, 3),
        }
        if self.cursor is not None:
            data["cursor"] = self.cursor
        if self.schema_changes:
            data["schema_changes"] = [c.describe() for c in self.schema_changes]
        if self.verdict is not None:
            data["checks"] = self.verdict.summary()
            data["check_seconds"] = round(self.verdict.seconds, 3)
            data["rows_quarantined"] = self.quarantined
        return data


class Load:
    """One batch on its way to one table. Made by `Warehouse.load()`; see there.

    A batch arrives one of two ways. `stage()` copies rows fetched from elsewhere (Arrow, or a
    relation on `self.connection`) into a private staging file, outside any warehouse lock.
    `scan()` hands over a query over local, re-readable files; the commit's transaction reads it
    once, straight into the warehouse, which is as fast as DuckDB's own readers get.
    """

    def __init__(self, warehouse: Warehouse, source: str, table: str, run_id: str | None) -> None:
        self.warehouse = warehouse
        self.source = source
        self.table = table
        self.run_id = run_id
        self.load_id = new_load_id()
        self.started_at = datetime.now(UTC)
        self._started = time.perf_counter()
        self.staging_path = (
            warehouse.staging_directory / f"{source}.{table}.{self.load_id}.{os.getpid()}.duckdb"
        )
        self.bytes_read = 0
        self.requests = 0
        self.retries = 0
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._staged = False
        self._scan_sql: str | None = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The staging database, a DuckDB file of this load's own."""
        if self._connection is None:
            self.staging_path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = duckdb.connect(
                str(self.staging_path), config={"memory_limit": self.warehouse.memory_limit}
            )
        return self._connection

    def scan(self, rows_sql: str) -> None:
        """Have the commit read the batch from `rows_sql`, a query over local files."""
        self._scan_sql = rows_sql

    def stage(self, data: StagedData | Iterable[StagedData]) -> None:
        """Copy a batch (a relation on `self.connection`, Arrow data, or an iterable of those)
        into the staging file. Columns new in a later part are added; missing ones stay null."""
        parts = [data] if isinstance(data, _STAGED_TYPES) else data
        for part in parts:
            self._stage_part(part)

    def _stage_part(self, part: StagedData) -> None:
        if isinstance(part, pa.Table | pa.RecordBatchReader) and not part.schema.names:
            return  # a part with no columns carries no rows either
        con, view = self.connection, "__part"
        if isinstance(part, duckdb.DuckDBPyRelation):
            part.create_view(view, replace=True)
        else:
            con.register(view, part)
        try:
            if not self._staged:
                con.execute(f"CREATE TABLE {STAGED_TABLE} AS SELECT * FROM {view}")
                self._staged = True
                return
            staged = {
                str(name).lower(): str(kind)
                for name, kind, *_ in con.execute(f"DESCRIBE {STAGED_TABLE}").fetchall()
            }
            for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall():
                have = staged.get(name.lower())
                if have is None:
                    con.execute(f"ALTER TABLE {STAGED_TABLE} ADD COLUMN {quote(name)} {kind}")
                elif have != kind and (wider := widen(have, kind)) != have:
                    con.execute(
                        f"ALTER TABLE {STAGED_TABLE} ALTER COLUMN {quote(name)} TYPE {wider}"
                    )
            con.execute(f"INSERT INTO {STAGED_TABLE} BY NAME SELECT * FROM {view}")
        finally:
            con.unregister(view)

    def commit(
        self, spec: WriteSpec, cursor: str | None = None, gate: Gate | None = None
    ) -> LoadResult:
        """Land the batch with its load record and `cursor` in one warehouse transaction.

        A `gate` judges the batch first, in the same transaction: its outcomes are recorded in
        `_tributary.check_results`; a blocked batch goes whole to `_tributary.quarantine` and
        lands nothing (nor moves the cursor); quarantined rows are set aside and the rest land.
        (The batch's rows are written just before, into a scratch table: see `_write`.)
        """
        attach = None
        rows_sql = self._scan_sql
        if rows_sql is None and self._staged:
            self.connection.close()
            attach, rows_sql = self.staging_path, f"SELECT * FROM __stage.main.{STAGED_TABLE}"
        lineage = Lineage(self.load_id, datetime.now(UTC), self.source)
        asked = time.perf_counter()
        with self.warehouse.writer(attach=attach) as con:
            locked = time.perf_counter()
            if rows_sql is None:
                outcome = in_transaction(
                    con, lambda c: self._record(c, spec, write_nothing(c, spec), cursor)
                )
            else:
                outcome = self._write(con, spec, lineage, rows_sql, cursor, gate)
        finished = time.perf_counter()
        return LoadResult(
            load_id=self.load_id,
            source=self.source,
            table=self.table,
            write=spec.write,
            rows_in=outcome.rows_in,
            inserted=outcome.inserted,
            updated=outcome.updated,
            deleted=outcome.deleted,
            bytes=self.bytes_read,
            requests=self.requests,
            retries=self.retries,
            seconds=finished - self._started,
            lock_wait_seconds=locked - asked,
            commit_seconds=finished - locked,
            cursor=cursor,
            schema_changes=outcome.schema_changes,
            verdict=outcome.verdict,
            quarantined=outcome.quarantined,
        )

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        lineage: Lineage,
        rows_sql: str,
        cursor: str | None,
        gate: Gate | None,
    ) -> WriteOutcome:
        """Write the batch table and commit it on its own, then judge and land it in a second
        transaction. The batch table is scratch: nothing refers to it, and if that second
        transaction fails (or the process dies) it is dropped, now or by the next writer.
        DuckDB scans committed data about twice as fast as a transaction's own, which the gate
        and the merge both do."""
        created_schema = not schema_exists(con, spec.target_schema)
        batch = in_transaction(con, lambda c: create_batch(c, spec, rows_sql, lineage))
        try:
            return in_transaction(con, lambda c: self._land(c, spec, batch, lineage, cursor, gate))
        except BaseException:
            drop_batch(con, spec, batch, drop_empty_schema=created_schema)
            raise

    def _land(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        batch: str,
        lineage: Lineage,
        cursor: str | None,
        gate: Gate | None,
    ) -> WriteOutcome:
        verdict = gate(con, batch) if gate is not None else None
        quarantined = 0
        if verdict is not None:
            quarantined = record_verdict(con, verdict, batch, self.load_id, self.source, self.table)
        if verdict is not None and verdict.blocked:
            con.execute(f"DROP TABLE {batch}")
            outcome = WriteOutcome(rows_in=quarantined)
            cursor = None
        else:
            counted = verdict.key_counts if verdict is not None and not quarantined else None
            outcome = write_batch(con, spec, batch, lineage, counted)
            outcome.rows_in += quarantined
        outcome.verdict, outcome.quarantined = verdict, quarantined
        return self._record(con, spec, outcome, cursor)

    def _record(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        outcome: WriteOutcome,
        cursor: str | None,
    ) -> WriteOutcome:
        """The load record, the cursor and the schema changes, in the load's transaction."""
        now = datetime.now(UTC)
        status = (
            "blocked" if outcome.verdict is not None and outcome.verdict.blocked else "succeeded"
        )
        con.execute(
            "INSERT INTO _tributary.loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.load_id,
                self.run_id,
                self.source,
                self.table,
                spec.write,
                status,
                outcome.rows_in,
                outcome.inserted,
                outcome.updated,
                outcome.deleted,
                self.bytes_read,
                self.requests,
                self.retries,
                self.started_at,
                now,
                outcome.verdict.summary() if status == "blocked" and outcome.verdict else None,
            ],
        )
        if cursor is not None:
            con.execute(
                "INSERT OR REPLACE INTO _tributary.state VALUES (?, ?, ?, ?, ?)",
                [self.source, self.table, cursor, self.load_id, now],
            )
        for change in outcome.schema_changes:
            con.execute(
                "INSERT INTO _tributary.schema_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self.load_id,
                    self.source,
                    self.table,
                    change.column,
                    change.change,
                    change.old_type,
                    change.new_type,
                    now,
                ],
            )
        return outcome

    def fail(self, error: BaseException) -> None:
        """Record the failed load; the data, cursor and schema are untouched. Waits at most
        `FAILURE_RECORD_SECONDS` (or the lock timeout, if shorter) for the warehouse: a failure
        is reported at once, even if its record cannot be written (filelock.Timeout)."""
        self._close_staging()
        message = str(error)[:4000]
        self.warehouse.transaction(
            lambda con: con.execute(
                "INSERT INTO _tributary.loads (load_id, run_id, source, table_name, write,"
                " status, bytes, requests, retries, started_at, finished_at, error)"
                " VALUES (?, ?, ?, ?, '', 'failed', ?, ?, ?, ?, ?, ?)",
                [
                    self.load_id,
                    self.run_id,
                    self.source,
                    self.table,
                    self.bytes_read,
                    self.requests,
                    self.retries,
                    self.started_at,
                    datetime.now(UTC),
                    message,
                ],
            ),
            timeout=min(FAILURE_RECORD_SECONDS, self.warehouse.lock_timeout_seconds),
        )

    def _close_staging(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(duckdb.Error):
                self._connection.close()

    def discard_staging(self) -> None:
        self._close_staging()
        for path in (
            self.staging_path,
            self.staging_path.with_name(self.staging_path.name + ".wal"),
        ):
            path.unlink(missing_ok=True)


class Warehouse(ConfigurableResource):
    """The DuckDB warehouse file: the writer every load goes through, and read-only access."""

    path: str = Field(description="The warehouse DuckDB file.")
    staging_dir: str = Field(description="Where loads stage their batches before committing.")
    lock_timeout_seconds: float = Field(
        default=600.0, gt=0, description="How long to wait for other writers or readers to finish."
    )
    memory_limit: str = Field(
        default="384MB",
        description=(
            "DuckDB's memory limit for loads; larger work spills to disk instead. DuckDB's "
            "process grows somewhat past it, and Dagster and polars take about 250 MB beside "
            "it, so the default keeps a 5M-row load under 1 GB."
        ),
    )

    writeback_seconds: float = Field(
        default=0.25,
        ge=0,
        description=(
            "While a writer holds the warehouse, sync its file to disk this often, so that a "
            "commit does not wait for a whole batch to reach the disk (0 leaves it to commits)."
        ),
    )

    @field_validator("memory_limit")
    @classmethod
    def _duckdb_accepts(cls, memory_limit: str) -> str:
        """Refuse a limit DuckDB would refuse, now rather than when the first load connects."""
        try:
            duckdb.connect(config={"memory_limit": memory_limit}).close()
        except duckdb.Error as error:
            raise ValueError(f"DuckDB refuses it: {error}") from None
        return memory_limit

    @property
    def file(self) -> Path:
        return Path(self.path)

    @property
    def staging_directory(self) -> Path:
        return Path(self.staging_dir)

    @contextlib.contextmanager
    def load(self, source: str, table: str, run_id: str | None = None) -> Iterator[Load]:
        """Stage and commit one batch. On any error the failed load is recorded, nothing else in
        the warehouse changes, and the error propagates."""
        self.sweep_staging()
        load = Load(self, source, table, run_id)
        try:
            yield load
        except BaseException as error:
            with contextlib.suppress(Exception):
                load.fail(error)
            raise
        finally:
            load.discard_staging()

    def sweep_staging(self) -> None:
        """Remove staging files left by processes that died mid-load (their PID is in the name)."""
        if not self.staging_directory.is_dir():
            return
        for path in self.staging_directory.glob("*.duckdb*"):
            pid = path.name.split(".duckdb")[0].rsplit(".", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                path.unlink(missing_ok=True)

    def transaction(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        attach: Path | None = None,
        timeout: float | None = None,
    ) -> _T:
        """Run `work` in one transaction on a read-write connection, one writer at a time,
        waiting at most `timeout` seconds for it (default: the lock timeout)."""
        with self.writer(attach, timeout) as con:
            return in_transaction(con, work)

    @contextlib.contextmanager
    def writer(
        self, attach: Path | None = None, timeout: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The read-write connection, held by one writer at a time (a file lock), with batch
        tables that a dead writer left behind dropped first, and its file written back to disk
        as it goes (see `resources.writeback`). `attach` is a staging file, attached read-only
        as `__stage`. Waits at most `timeout` seconds (default: the lock timeout) for other
        writers and readers; raises filelock.Timeout or DuckDB's lock error after that."""
        wait = self.lock_timeout_seconds if timeout is None else timeout
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.file) + ".lock", timeout=wait):
            con = retry_while_locked(
                lambda: duckdb.connect(str(self.file), config={"memory_limit": self.memory_limit}),
                wait,
            )
            with background_writeback(self.file, self.writeback_seconds):
                try:
                    drop_orphan_batches(con)
                    if attach is not None:
                        con.execute(f"ATTACH {literal(str(attach))} AS __stage (READ_ONLY)")
                    yield con
                finally:
                    con.close()

    @contextlib.contextmanager
    def read_only(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, retried while a writer holds the file."""
        con = retry_while_locked(
            lambda: duckdb.connect(str(self.file), read_only=True), self.lock_timeout_seconds
        )
        try:
            yield con
        finally:
            con.close()
