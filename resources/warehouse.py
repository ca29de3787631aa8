"""The warehouse writer: every source kind lands its batches through here.

A load stages its batch in a private DuckDB file (no warehouse lock held while a source is read),
then writes data, the load record, the incremental cursor and any schema changes in one short
transaction. Writers are serialized by a file lock; readers retry while a writer commits.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import duckdb
import pyarrow as pa
from dagster import ConfigurableResource
from filelock import FileLock
from pydantic import Field
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from resources.duckdb_sql import literal, quote
from resources.schema_evolution import SchemaChange
from resources.warehouse_schema import ensure_platform_schema
from resources.write_dispositions import Lineage, WriteOutcome, WriteSpec, write_batch

StagedData: TypeAlias = duckdb.DuckDBPyRelation | pa.Table | pa.RecordBatchReader
_STAGED_TYPES = (duckdb.DuckDBPyRelation, pa.Table, pa.RecordBatchReader)
STAGED_TABLE = "staged"
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


def new_load_id() -> str:
    """Sortable and unique: UTC time of the load, then random hex."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}"


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
    seconds: float
    cursor: str | None
    schema_changes: list[SchemaChange] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "load_id": self.load_id,
            "write": self.write,
            "rows_in": self.rows_in,
            "rows_inserted": self.inserted,
            "rows_updated": self.updated,
            "rows_deleted": self.deleted,
            "bytes_read": self.bytes,
            "seconds": round(self.seconds, 3),
        }
        if self.cursor is not None:
            data["cursor"] = self.cursor
        if self.schema_changes:
            data["schema_changes"] = [c.describe() for c in self.schema_changes]
        return data


class Load:
    """One batch on its way to one table. Made by `Warehouse.load()`; see there."""

    def __init__(self, warehouse: Warehouse, source: str, table: str, run_id: str | None) -> None:
        self.warehouse = warehouse
        self.source = source
        self.table = table
        self.run_id = run_id
        self.load_id = new_load_id()
        self.started_at = datetime.now(UTC)
        self._started = time.perf_counter()
        self.staging_path = warehouse.staging_directory / f"{source}.{table}.{self.load_id}.duckdb"
        self.staging_path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(self.staging_path))
        self.bytes_read = 0
        self._staged = False

    def stage(self, data: StagedData | Iterable[StagedData]) -> None:
        """Copy a batch (a relation on `self.connection`, Arrow data, or an iterable of those)
        into the staging file. Columns new in a later part are added; missing ones stay null."""
        parts = [data] if isinstance(data, _STAGED_TYPES) else data
        for part in parts:
            self._stage_part(part)

    def _stage_part(self, part: StagedData) -> None:
        if isinstance(part, pa.Table | pa.RecordBatchReader) and not part.schema.names:
            return  # a part with no columns carries no rows either
        view = "__part"
        if isinstance(part, duckdb.DuckDBPyRelation):
            part.create_view(view, replace=True)
        else:
            self.connection.register(view, part)
        try:
            if not self._staged:
                self.connection.execute(f"CREATE TABLE {STAGED_TABLE} AS SELECT * FROM {view}")
                self._staged = True
                return
            have = {r[0] for r in self.connection.execute(f"DESCRIBE {STAGED_TABLE}").fetchall()}
            for name, type_, *_ in self.connection.execute(f"DESCRIBE {view}").fetchall():
                if name not in have:
                    self.connection.execute(
                        f"ALTER TABLE {STAGED_TABLE} ADD COLUMN {quote(name)} {type_}"
                    )
            self.connection.execute(f"INSERT INTO {STAGED_TABLE} BY NAME SELECT * FROM {view}")
        finally:
            self.connection.unregister(view)

    @property
    def staged_rows(self) -> int:
        if not self._staged:
            return 0
        row = self.connection.execute(f"SELECT count(*) FROM {STAGED_TABLE}").fetchone()
        return int(row[0]) if row else 0

    def commit(self, spec: WriteSpec, cursor: str | None = None) -> LoadResult:
        """Write the staged batch, its load record and `cursor` in one warehouse transaction."""
        if not self._staged:
            # Nothing arrived: an empty, column-less batch; the writer decides if that may land.
            self.connection.execute(f"CREATE TABLE {STAGED_TABLE} AS SELECT 1 AS __none LIMIT 0")
        self.connection.close()
        lineage = Lineage(self.load_id, datetime.now(UTC), self.source)
        outcome = self.warehouse.transaction(
            lambda con: self._write(con, spec, lineage, cursor), attach=self.staging_path
        )
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
            seconds=time.perf_counter() - self._started,
            cursor=cursor,
            schema_changes=outcome.schema_changes,
        )

    def _write(
        self, con: duckdb.DuckDBPyConnection, spec: WriteSpec, lineage: Lineage, cursor: str | None
    ) -> WriteOutcome:
        outcome = write_batch(con, spec, f"__stage.main.{STAGED_TABLE}", lineage)
        now = datetime.now(UTC)
        con.execute(
            "INSERT INTO _tributary.loads VALUES "
            "(?, ?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                self.load_id,
                self.run_id,
                self.source,
                self.table,
                spec.write,
                outcome.rows_in,
                outcome.inserted,
                outcome.updated,
                outcome.deleted,
                self.bytes_read,
                self.started_at,
                now,
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
        """Record the failed load; the data, cursor and schema are untouched."""
        with contextlib.suppress(duckdb.Error):
            self.connection.close()
        message = str(error)[:4000]
        self.warehouse.transaction(
            lambda con: con.execute(
                "INSERT INTO _tributary.loads (load_id, run_id, source, table_name, write,"
                " status, bytes, started_at, finished_at, error)"
                " VALUES (?, ?, ?, ?, '', 'failed', ?, ?, ?, ?)",
                [
                    self.load_id,
                    self.run_id,
                    self.source,
                    self.table,
                    self.bytes_read,
                    self.started_at,
                    datetime.now(UTC),
                    message,
                ],
            )
        )

    def discard_staging(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.connection.close()
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
        default=600.0, description="How long to wait for other writers or readers to finish."
    )

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
        load = Load(self, source, table, run_id)
        try:
            yield load
        except BaseException as error:
            with contextlib.suppress(Exception):
                load.fail(error)
            raise
        finally:
            load.discard_staging()

    def transaction(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        attach: Path | None = None,
    ) -> _T:
        """Run `work` in one transaction on a read-write connection, one writer at a time."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.file) + ".lock", timeout=self.lock_timeout_seconds):
            con = retry_while_locked(
                lambda: duckdb.connect(str(self.file)), self.lock_timeout_seconds
            )
            try:
                if attach is not None:
                    con.execute(f"ATTACH {literal(str(attach))} AS __stage (READ_ONLY)")
                con.execute("BEGIN TRANSACTION")
                ensure_platform_schema(con)
                result = work(con)
                con.execute("COMMIT")
                return result
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
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
