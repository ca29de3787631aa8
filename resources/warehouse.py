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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

import duckdb
import pyarrow as pa
from dagster import ConfigurableResource
from filelock import FileLock
from pydantic import Field, field_validator, model_validator
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from resources import ducklake, file_ledger
from resources.duckdb_client import scratch_connection
from resources.duckdb_sql import column_list, literal, quote
from resources.file_ledger import FilePlan, FileVersion
from resources.quarantine import forget_files, quarantine_where, record_verdict
from resources.schema_evolution import (
    SchemaChange,
    columns_of,
    joined_type,
    stored_columns,
    with_null_columns,
)
from resources.type_lattice import is_null_type
from resources.uniqueness import KeyCounts
from resources.warehouse_schema import SOURCE_FILE, ensure_platform_schema
from resources.write_dispositions import (
    Lineage,
    WriteOutcome,
    WriteSpec,
    count_rows,
    create_batch,
    drop_batch,
    drop_orphan_batches,
    resolve_repeated_keys,
    schema_exists,
    write_batch,
    write_nothing,
)
from resources.writeback import background_writeback

if TYPE_CHECKING:
    from checks.gate import Verdict


class Gate(Protocol):
    """Judges the batch table inside the load's transaction (see `checks.gate.QualityGate`).
    `known` holds key counts the writer already took on it (key columns → `KeyCounts`)."""

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: str,
        known: Mapping[tuple[str, ...], KeyCounts] | None = None,
    ) -> Verdict: ...


StagedData: TypeAlias = duckdb.DuckDBPyRelation | pa.Table | pa.RecordBatchReader
_STAGED_TYPES = (duckdb.DuckDBPyRelation, pa.Table, pa.RecordBatchReader)
STAGED_TABLE = "staged"
CONFLICT_ATTEMPTS = 20
"""How often a transaction that lost a DuckLake commit conflict is run again."""
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
    """Run `work` in one transaction: all of it commits, or none of it. On a DuckLake, a
    transaction that loses a commit conflict to another writer is rolled back and `work` runs
    again (at most `CONFLICT_ATTEMPTS` times), so `work` must do nothing outside the
    transaction."""
    lake = ducklake.is_ducklake(con)

    def once() -> _T:
        con.execute("BEGIN TRANSACTION")
        try:
            ensure_platform_schema(con, lake)
            result = work(con)
            con.execute("COMMIT")
            return result
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise

    if not lake:
        return once()
    retrying = Retrying(
        retry=retry_if_exception(ducklake.is_conflict),
        wait=wait_random_exponential(multiplier=0.02, max=1.0),
        stop=stop_after_attempt(CONFLICT_ATTEMPTS),
        reraise=True,
    )
    return retrying(once)


def _null_columns(part: StagedData, described: list[tuple[str, str]]) -> set[str]:
    """The part's columns that hold only nulls by their type: Arrow's null type (which DuckDB
    reads as INTEGER) or DuckDB's NULL."""
    if isinstance(part, pa.Table | pa.RecordBatchReader):
        return {f.name for f in part.schema if pa.types.is_null(f.type)}
    return {name for name, kind in described if is_null_type(kind)}


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
    columns: dict[str, str] = field(default_factory=dict)
    """The table's columns and types after the load (lineage columns included)."""
    source_names: dict[str, str] = field(default_factory=dict)
    """`{column: name in the source}` for each column the reader's `column_names` renamed."""
    superseded: int = 0
    """Rows of the batch dropped for a later row of the same key (merge, scd2)."""
    children: list[LoadResult] = field(default_factory=list)
    """The loads of its child tables, committed in the same transaction (see `Load.child`)."""

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
            "rows_superseded": self.superseded,
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


@dataclass(frozen=True)
class _Child:
    """A child table's batch: its load (staging), how it is written, and the column holding
    its parent row's key."""

    load: Load
    spec: WriteSpec
    root_key: str


@dataclass(frozen=True)
class _Files:
    """Local files a load reads at commit time (see `Load.scan_files`)."""

    versions: Callable[[], Sequence[FileVersion]]
    rows_sql: Callable[[Sequence[FileVersion]], str]


def _root_id(keys: Sequence[str]) -> str:
    """SQL for a row's key as its child rows' root key holds it: the key's text, several key
    columns joined by `|`."""
    if len(keys) == 1:
        return f"{quote(keys[0])}::VARCHAR"
    return "concat_ws('|', " + ", ".join(f"{quote(k)}::VARCHAR" for k in keys) + ")"


def _parent_keys(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, lineage: Lineage
) -> str | None:
    """A temporary table (`id`) of the keys of the parent rows about to land, or None when the
    parent has no key (its children cannot be told apart by parent)."""
    if not spec.primary_key:
        return None
    parents = f'temp.main."__parents_{lineage.load_id}"'
    con.execute(
        f"CREATE TEMP TABLE {parents} AS SELECT DISTINCT {_root_id(spec.primary_key)} AS id "
        f"FROM {batch}"
    )
    return parents


def _stale_children(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str | None,
    root: str,
    parents: str | None,
    load_id: str,
) -> str | None:
    """Under merge, before the child write: the DELETE to run after it for the stored child
    rows of the parents being written that the new batch no longer lists (a label removed
    upstream). Found while the batch exists; deleting first would stop the write from altering
    the table. None when there are none."""
    if parents is None or spec.write != "merge" or spec.full_refresh:
        return None
    if not _table_exists(con, spec):
        return None
    keys = column_list(spec.primary_key)
    listed = ""
    if batch is not None:
        same = " AND ".join(
            f"b.{quote(k)}::VARCHAR = t.{quote(k)}::VARCHAR" for k in spec.primary_key
        )
        listed = f" AND NOT EXISTS (SELECT 1 FROM {batch} b WHERE {same})"
    stale = f'temp.main."__stale_{load_id}"'
    con.execute(
        f"CREATE TEMP TABLE {stale} AS SELECT {keys} FROM {spec.target} t WHERE EXISTS "
        f"(SELECT 1 FROM {parents} p WHERE p.id = t.{quote(root)}::VARCHAR){listed}"
    )
    return _delete_keys(con, spec, stale)


def _replaced_rows(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, files: FilePlan, load_id: str
) -> str | None:
    """Before the write, the DELETE to run after it for the rows that earlier versions of the
    files read again landed: under append all of them; under merge those whose key the new
    batch no longer holds (the merge updates the rest), found while the batch still exists.
    (DuckDB refuses to alter a table a transaction has already deleted from, and the write may
    alter the target.) None when there are none."""
    if not files.replaced or spec.write not in ("append", "merge") or spec.full_refresh:
        return None
    if not _table_exists(con, spec) or SOURCE_FILE not in columns_of(con, spec.target):
        return None
    names = ", ".join(literal(name) for name in files.replaced)
    of_files = f"{quote(SOURCE_FILE)}::VARCHAR IN ({names})"
    if spec.write == "append":
        return (
            f"DELETE FROM {spec.target} t "
            f"WHERE t.{of_files} AND t._load_id <> {literal(load_id)}::UUID"
        )
    # The keys are compared in polars, as `resources.uniqueness` counts them: an anti-join of
    # millions of keys takes it a fraction of what DuckDB's hash join costs inside the load.
    select = f"SELECT {_key_select(con, spec, batch, spec.target)} FROM {spec.target} "
    before = con.execute(f"{select}WHERE {of_files}").pl()
    now = con.execute(f"SELECT {_key_select(con, spec, batch, batch)} FROM {batch}").pl()
    gone = before.join(now, on=list(spec.primary_key), how="anti", nulls_equal=True)
    if gone.is_empty():
        return None
    keys = f'temp.main."__replaced_{load_id}"'
    con.register("__gone", gone)
    try:
        con.execute(f"CREATE TEMP TABLE {keys} AS SELECT * FROM __gone")
    finally:
        con.unregister("__gone")
    return _delete_keys(con, spec, keys)


def _key_select(con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, relation: str) -> str:
    """The primary key columns of `relation` (the target or the batch) for matching the two: in
    their own type where batch and target agree (a plain hash join), as text where they
    differ."""
    stored, incoming = columns_of(con, spec.target), columns_of(con, batch)
    return ", ".join(
        f"{quote(k)} AS {quote(k)}"
        if stored.get(k) == incoming.get(k)
        else f"{quote(k)}::VARCHAR AS {quote(k)}"
        for k in spec.primary_key
    )


def _delete_keys(con: duckdb.DuckDBPyConnection, spec: WriteSpec, keys: str) -> str | None:
    """The DELETE of the target's rows whose key is in `keys` (a table), None if it is empty."""
    if not count_rows(con, keys):
        return None
    match = " AND ".join(f"k.{quote(c)} = t.{quote(c)}" for c in spec.primary_key)
    return f"DELETE FROM {spec.target} t USING {keys} k WHERE {match}"


def _run_delete(con: duckdb.DuckDBPyConnection, delete: str | None) -> int:
    """Run a DELETE made before the write; returns how many rows went."""
    if delete is None:
        return 0
    deleted = con.execute(delete).fetchone()
    return int(deleted[0]) if deleted else 0


def _table_exists(con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [spec.target_schema, spec.target_table],
    ).fetchone()
    return bool(found and found[0])


class Load:
    """One batch on its way to one table. Made by `Warehouse.load()`; see there.

    A batch arrives one of three ways. `stage()` copies rows fetched from elsewhere (Arrow, or a
    relation on `self.connection`) into a private staging file, outside any warehouse lock.
    `scan()` hands over a query over local, re-readable files; the commit's transaction reads it
    once, straight into the warehouse, which is as fast as DuckDB's own readers get.
    `scan_files()` does the same for files the file ledger has not yet seen in their version.
    A batch may bring child batches (`child()`), which land in its transaction.
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
        self.source_names: dict[str, str] = {}
        """Set by the reader: `{column: name in the source}` for each column it renamed."""
        self.requests = 0
        self.retries = 0
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._staged = False
        self._null_only: dict[str, str] = {}
        """Staged columns that held only nulls so far (lower-case name → name)."""
        self._scan_sql: str | None = None
        self._files: _Files | None = None
        self._children: list[_Child] = []

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
        """Append one part to the staged table, widening its columns along the type lattice.

        A column that holds only nulls in a part (Arrow's null type, DuckDB's NULL) is no evidence
        of a type: it is staged as a placeholder until a part brings values, and the commit lands
        it as null in the stored column, or not at all where none is stored."""
        if isinstance(part, pa.Table | pa.RecordBatchReader) and not part.schema.names:
            return  # a part with no columns carries no rows either
        con, view = self.connection, "__part"
        if isinstance(part, duckdb.DuckDBPyRelation):
            part.create_view(view, replace=True)
        else:
            con.register(view, part)
        try:
            described = [
                (str(name), str(kind))
                for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall()
            ]
            nulls = _null_columns(part, described)
            select = ", ".join(
                f"NULL AS {quote(name)}" if name in nulls else quote(name) for name, _ in described
            )
            if not self._staged:
                con.execute(f"CREATE TABLE {STAGED_TABLE} AS SELECT {select} FROM {view}")
                self._staged = True
                self._null_only = {name.lower(): name for name in nulls}
                return
            staged = {
                str(name).lower(): str(kind)
                for name, kind, *_ in con.execute(f"DESCRIBE {STAGED_TABLE}").fetchall()
            }
            for name, kind in described:
                have = staged.get(name.lower())
                if have is None:
                    con.execute(f"ALTER TABLE {STAGED_TABLE} ADD COLUMN {quote(name)} {kind}")
                    if name in nulls:
                        self._null_only[name.lower()] = name
                elif name in nulls:
                    continue
                elif self._null_only.pop(name.lower(), None) is not None:
                    self._alter_staged(name, kind)  # only nulls so far: take the part's type
                elif have != kind:
                    wider = joined_type(con, name, (have, STAGED_TABLE), (kind, view))
                    if wider != have:
                        self._alter_staged(name, wider)
            con.execute(f"INSERT INTO {STAGED_TABLE} BY NAME SELECT {select} FROM {view}")
        finally:
            con.unregister(view)

    def _alter_staged(self, column: str, kind: str) -> None:
        self.connection.execute(
            f"ALTER TABLE {STAGED_TABLE} ALTER COLUMN {quote(column)} TYPE {kind}"
        )

    def child(self, table: str, spec: WriteSpec, root_key: str) -> Load:
        """A child table's batch, whose rows belong to rows of this batch: each carries its
        parent row's primary key in `root_key` (several key columns joined by `|`). Stage its
        rows on the returned load; this load's `commit` lands them in its own transaction:

        - a blocked parent batch lands no child row (they go to quarantine with it), and the
          children of parent rows set aside in quarantine follow them there;
        - under merge (and scd2), each parent row written has its earlier child rows replaced:
          a child row no longer listed goes, the others merge on `spec.primary_key`;
        - under replace the child table is replaced with the parent's; under append, appended.

        Each child table's load is recorded beside its parent's, in the same transaction."""
        child = Load(self.warehouse, self.source, table, self.run_id)
        self._children.append(_Child(child, spec, root_key))
        return child

    def scan_files(
        self,
        versions: Callable[[], Sequence[FileVersion]],
        rows_sql: Callable[[Sequence[FileVersion]], str],
    ) -> None:
        """Have the commit read local files, once per version: holding the warehouse, it lists
        `versions()`, keeps those the file ledger (`_tributary.files`) has not recorded as read
        (every one under replace, scd2 or a full refresh), and reads them with `rows_sql(kept)`,
        a query whose rows carry `_source_file`. The rows an earlier version of a kept file
        landed are replaced by the new ones, and the ledger records what was read, in the load's
        transaction. With no file to read, the load succeeds and lands nothing."""
        self._files = _Files(versions, rows_sql)

    def commit(
        self, spec: WriteSpec, cursor: str | None = None, gate: Gate | None = None
    ) -> LoadResult:
        """Land the batch and its child batches with their load records and `cursor` in one
        warehouse transaction.

        A `gate` judges the batch first, in the same transaction: its outcomes are recorded in
        `_tributary.check_results`; a blocked batch goes whole to `_tributary.quarantine` and
        lands nothing (nor moves the cursor); quarantined rows are set aside and the rest land.
        Under merge and scd2, the batch is first reduced to one row per key, so the gate judges
        the rows that would land. (The batches' rows are written just before, into scratch
        tables: see `_write`.)
        """
        stages = {}
        for alias, load in self._stages().items():
            load._close_staging()
            if load._staged:
                stages[alias] = load.staging_path
        lineage = Lineage(self.load_id, datetime.now(UTC), self.source)
        asked = time.perf_counter()
        with self.warehouse.writer(attachments=stages, table=spec.target) as con:
            locked = time.perf_counter()
            files = self._plan_files(con, spec)
            rows_sql = self._rows_sql(files)
            if rows_sql is None:
                outcome = in_transaction(con, lambda c: self._land_nothing(c, spec, cursor, files))
            else:
                children = [
                    (
                        child,
                        f"SELECT * FROM {alias}.main.{STAGED_TABLE}" if alias in stages else None,
                    )
                    for alias, child in zip(self._child_aliases(), self._children, strict=True)
                ]
                outcome = self._write(con, spec, lineage, rows_sql, cursor, gate, files, children)
            columns = stored_columns(con, spec.target_schema, spec.target_table) or {}
        finished = time.perf_counter()
        result = self._result(spec, outcome, cursor, finished, locked - asked, finished - locked)
        result.columns, result.source_names = columns, dict(self.source_names)
        result.children = [
            child.load._result(child.spec, done, None, finished, locked - asked, finished - locked)
            for child, done in zip(self._children, outcome.children, strict=False)
        ]
        return result

    def _result(
        self,
        spec: WriteSpec,
        outcome: WriteOutcome,
        cursor: str | None,
        finished: float,
        lock_wait: float,
        commit: float,
    ) -> LoadResult:
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
            lock_wait_seconds=lock_wait,
            commit_seconds=commit,
            cursor=cursor,
            schema_changes=outcome.schema_changes,
            verdict=outcome.verdict,
            quarantined=outcome.quarantined,
            superseded=outcome.superseded,
        )

    def _stages(self) -> dict[str, Load]:
        """Staging files by the alias the commit attaches them as."""
        aliases = ["__stage", *self._child_aliases()]
        return dict(zip(aliases, [self, *(c.load for c in self._children)], strict=True))

    def _child_aliases(self) -> list[str]:
        return [f"__stage_{n}" for n in range(len(self._children))]

    def _plan_files(self, con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> FilePlan | None:
        """Which files to read, decided holding the warehouse, so two loads of the same table
        (a schedule and a file-arrival run) never read one file version twice."""
        if self._files is None:
            return None
        read_all = spec.write in ("replace", "scd2") or spec.full_refresh
        ledger = in_transaction(con, lambda c: file_ledger.recorded(c, self.source, self.table))
        chosen = file_ledger.plan(self._files.versions(), ledger, read_all)
        self.bytes_read = sum(v.size for v in chosen.read)
        return chosen

    def _rows_sql(self, files: FilePlan | None) -> str | None:
        if files is not None:
            return self._files.rows_sql(files.read) if files.read and self._files else None
        if self._scan_sql is not None:
            return self._scan_sql
        return f"SELECT * FROM __stage.main.{STAGED_TABLE}" if self._staged else None

    def _land_nothing(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        cursor: str | None,
        files: FilePlan | None,
    ) -> WriteOutcome:
        """No rows arrived. With files planned, none was new: the load lands nothing and
        succeeds. Otherwise nothing arrived at all: see `write_nothing`."""
        if files is None:
            return self._record(con, spec, write_nothing(con, spec), cursor)
        file_ledger.record(
            con, self.source, self.table, files.touched, files.hashes, self.load_id, self.started_at
        )
        return self._record(con, spec, WriteOutcome(), cursor)

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        lineage: Lineage,
        rows_sql: str,
        cursor: str | None,
        gate: Gate | None,
        files: FilePlan | None,
        children: list[tuple[_Child, str | None]],
    ) -> WriteOutcome:
        """Write the batch tables and commit them on their own, then judge and land them in a
        second transaction. Batch tables are scratch: nothing refers to them, and if that second
        transaction fails (or the process dies) they are dropped, now or by the next writer.
        DuckDB scans committed data about twice as fast as a transaction's own, which the gate
        and the merge both do."""
        created_schema = not schema_exists(con, spec.target_schema)
        if self._null_only and self._scan_sql is None:
            rows_sql = with_null_columns(
                con, spec.target_schema, spec.target_table, rows_sql, self._null_only.values()
            )

        def create(c: duckdb.DuckDBPyConnection) -> list[str | None]:
            batches: list[str | None] = [create_batch(c, spec, rows_sql, lineage)]
            for child, sql in children:
                child_lineage = Lineage(child.load.load_id, lineage.loaded_at, self.source)
                if sql is not None and child.load._null_only:
                    sql = with_null_columns(
                        c,
                        child.spec.target_schema,
                        child.spec.target_table,
                        sql,
                        child.load._null_only.values(),
                    )
                batches.append(
                    None if sql is None else create_batch(c, child.spec, sql, child_lineage)
                )
            return batches

        batch, *child_batches = in_transaction(con, create)
        assert batch is not None
        related = [(child, b) for (child, _), b in zip(children, child_batches, strict=True)]
        try:
            return in_transaction(
                con, lambda c: self._land(c, spec, batch, lineage, cursor, gate, files, related)
            )
        except BaseException:
            for child, child_batch in related:
                if child_batch is not None:
                    drop_batch(con, child.spec, child_batch, drop_empty_schema=False)
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
        files: FilePlan | None,
        children: list[tuple[_Child, str | None]],
    ) -> WriteOutcome:
        """One load, top to bottom: resolve repeated keys, judge, set aside, land the rows (and
        the file versions read), then the child batches, then the load record and cursor."""
        rows_in = count_rows(con, batch)
        batch, superseded, counts = resolve_repeated_keys(con, spec, batch)
        if files is not None:
            forget_files(con, self.source, self.table, [v.name for v in files.read])
        known = {tuple(spec.primary_key): counts} if counts is not None else None
        verdict = gate(con, batch, known) if gate is not None else None
        quarantined = 0
        if verdict is not None:
            quarantined = record_verdict(con, verdict, batch, self.load_id, self.source, self.table)
        blocked = verdict is not None and verdict.blocked
        parents = _parent_keys(con, spec, batch, lineage) if children and not blocked else None
        if blocked:
            con.execute(f"DROP TABLE {batch}")
            outcome = WriteOutcome()
            cursor = None
        else:
            replaced = _replaced_rows(con, spec, batch, files, self.load_id) if files else None
            # Setting rows aside adds no null key and no repeat: the counts still hold then.
            still = (
                counts if counts is not None and not (quarantined and counts.null_keys) else None
            )
            outcome = write_batch(con, spec, batch, lineage, still)
            outcome.deleted += _run_delete(con, replaced)
            if files is not None:
                self._record_files(con, spec, files)
        outcome.rows_in, outcome.superseded = rows_in, outcome.superseded + superseded
        outcome.verdict, outcome.quarantined = verdict, quarantined
        outcome.children = [
            child.load._land_child(con, child, child_batch, parents, lineage, verdict, self.table)
            for child, child_batch in children
        ]
        if parents is not None:
            con.execute(f"DROP TABLE {parents}")
        return self._record(con, spec, outcome, cursor)

    def _record_files(
        self, con: duckdb.DuckDBPyConnection, spec: WriteSpec, files: FilePlan
    ) -> None:
        if spec.write in ("replace", "scd2") or spec.full_refresh:
            file_ledger.forget(con, self.source, self.table)
        file_ledger.record(
            con,
            self.source,
            self.table,
            (*files.read, *files.touched),
            files.hashes,
            self.load_id,
            self.started_at,
        )

    def _land_child(
        self,
        con: duckdb.DuckDBPyConnection,
        child: _Child,
        batch: str | None,
        parents: str | None,
        lineage: Lineage,
        verdict: Verdict | None,
        parent_table: str,
    ) -> WriteOutcome:
        """Land a child batch after its parent's (see `child`), and record its load."""
        spec, root = child.spec, child.root_key
        rows_in = count_rows(con, batch) if batch is not None else 0
        blocked = verdict is not None and verdict.blocked
        moved = 0
        followed = verdict is not None and bool(verdict.quarantine) and parents is not None
        if batch is not None and (blocked or followed):
            orphan = (
                "true"
                if blocked
                else f"NOT EXISTS (SELECT 1 FROM {parents} p WHERE p.id = b.{quote(root)}::VARCHAR)"
            )
            reasons = [f"parent_quarantined ({parent_table})"]
            moved = quarantine_where(
                con, batch, orphan, reasons, self.load_id, self.source, self.table
            )
        if blocked:
            if batch is not None:
                con.execute(f"DROP TABLE {batch}")
            outcome = WriteOutcome(verdict=verdict)
        else:
            stale = _stale_children(con, spec, batch, root, parents, self.load_id)
            if batch is not None:
                child_lineage = Lineage(self.load_id, lineage.loaded_at, self.source)
                outcome = write_batch(con, spec, batch, child_lineage)
            else:
                outcome = write_nothing(con, spec)
            outcome.deleted += _run_delete(con, stale)
        outcome.rows_in, outcome.quarantined = rows_in, moved
        return self._record(con, spec, outcome, None)

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
            "INSERT INTO _tributary.loads (load_id, run_id, source, table_name, write, status,"
            " rows_in, rows_inserted, rows_updated, rows_deleted, rows_superseded, bytes,"
            " requests, retries, started_at, finished_at, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                outcome.superseded,
                self.bytes_read,
                self.requests,
                self.retries,
                self.started_at,
                now,
                outcome.verdict.summary() if status == "blocked" and outcome.verdict else None,
            ],
        )
        if cursor is not None:
            # DELETE then INSERT rather than INSERT OR REPLACE: DuckLake has no primary key.
            con.execute(
                "DELETE FROM _tributary.state WHERE source = ? AND table_name = ?",
                [self.source, self.table],
            )
            con.execute(
                "INSERT INTO _tributary.state VALUES (?, ?, ?, ?, ?)",
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
            self._connection = None

    def discard_staging(self) -> None:
        """Remove this load's staging files and its child batches'."""
        for child in self._children:
            child.load.discard_staging()
        self._close_staging()
        for path in (
            self.staging_path,
            self.staging_path.with_name(self.staging_path.name + ".wal"),
        ):
            path.unlink(missing_ok=True)


class Warehouse(ConfigurableResource):
    """The warehouse: the writer every load goes through, and read-only access.

    `path` is a DuckDB file, or a DuckLake several writers share: `ducklake:postgres:<libpq
    keywords>` (the catalog in PostgreSQL) with `data_path` for its Parquet files. A DuckDB file
    takes one writer at a time (a file lock); a DuckLake one writer per table at a time (a
    PostgreSQL advisory lock), loads of different tables committing in parallel."""

    path: str = Field(
        description="The warehouse DuckDB file, or `ducklake:postgres:dbname=... host=...`."
    )
    data_path: str | None = Field(
        default=None,
        description="A DuckLake's data path (DATA_PATH): where its Parquet files are written.",
    )
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

    @model_validator(mode="after")
    def _lake_is_complete(self) -> Warehouse:
        if ducklake.is_target(self.path):
            ducklake.check_target(self.path, self.data_path)
        return self

    @property
    def lake(self) -> ducklake.Lake | None:
        """The DuckLake this warehouse is, or None for a DuckDB file."""
        if not ducklake.is_target(self.path):
            return None
        assert self.data_path is not None
        return ducklake.Lake(self.path, self.data_path)

    @property
    def file(self) -> Path:
        """The DuckDB file (for a DuckLake, a name that is never created)."""
        return Path(self.path)

    @property
    def data_directories(self) -> list[str]:
        """Folders outside the database that reading it opens: a DuckLake's local data path."""
        if self.lake is None or "://" in self.lake.data_path:
            return []
        return [self.lake.data_path.rstrip("/") + "/"]

    @property
    def location(self) -> str:
        """Where the warehouse is, for messages: the file, or the lake's catalog and data path."""
        return self.path if self.lake is None else f"{self.path} (data in {self.data_path})"

    def exists(self) -> bool:
        """Whether anything was ever written: the file exists, or the lake holds a snapshot
        beyond its creation (a DuckLake catalog that is not reachable raises duckdb.Error)."""
        if self.lake is None:
            return self.file.exists()
        with self.read_only() as con:
            return ducklake.snapshot_count(con) > 1

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
        timeout: float | None = None,
    ) -> _T:
        """Run `work` in one transaction on a read-write connection, one writer at a time,
        waiting at most `timeout` seconds for it (default: the lock timeout)."""
        with self.writer(timeout=timeout) as con:
            return in_transaction(con, work)

    @contextlib.contextmanager
    def writer(
        self,
        attachments: Mapping[str, Path] | None = None,
        timeout: float | None = None,
        table: str | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The read-write connection, held by one writer at a time (a file lock), with batch
        tables that a dead writer left behind dropped first, and its file written back to disk
        as it goes (see `resources.writeback`). `attachments` are staging files, attached
        read-only by alias (`__stage` is a load's own). Waits at most `timeout` seconds
        (default: the lock timeout) for other writers and readers; raises filelock.Timeout or
        DuckDB's lock error after that.

        On a DuckLake, `table` (the quoted target a load writes) is held by one writer at a
        time instead, and the others go on; waits raise ducklake.LockTimeout."""
        wait = self.lock_timeout_seconds if timeout is None else timeout
        if self.lake is not None:
            with self._lake_writer(self.lake, attachments or {}, wait, table) as con:
                yield con
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.file) + ".lock", timeout=wait):
            con = retry_while_locked(
                lambda: duckdb.connect(str(self.file), config={"memory_limit": self.memory_limit}),
                wait,
            )
            with background_writeback(self.file, self.writeback_seconds):
                try:
                    drop_orphan_batches(con)
                    for alias, path in (attachments or {}).items():
                        con.execute(f"ATTACH {literal(str(path))} AS {alias} (READ_ONLY)")
                    yield con
                finally:
                    con.close()

    @contextlib.contextmanager
    def _lake_writer(
        self,
        lake: ducklake.Lake,
        attachments: Mapping[str, Path],
        wait: float,
        table: str | None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        self.staging_directory.mkdir(parents=True, exist_ok=True)
        with (
            ducklake.writer_locks(ducklake.postgres_dsn(lake.target), table, wait) as pg,
            ducklake.writer_lock,
        ):
            con = lake.cursor(
                memory_limit=self.memory_limit,
                temp_directory=self.staging_directory / f"lake.{os.getpid()}.tmp",
            )
            try:
                ducklake.sweep_if_alone(pg, lambda: drop_orphan_batches(con))
                for alias, path in attachments.items():
                    con.execute(f"ATTACH {literal(str(path))} AS {alias} (READ_ONLY)")
                yield con
            finally:
                for alias in attachments:
                    with contextlib.suppress(duckdb.Error):
                        con.execute(f"DETACH DATABASE IF EXISTS {alias}")
                con.close()

    def maintain(self, older_than: timedelta) -> ducklake.Maintenance:
        """Compact a DuckLake warehouse (see `ducklake.maintain`): merge small Parquet files,
        expire snapshots older than `older_than`, delete unreferenced files. Runs beside loads
        (a pass that loses a commit conflict to one runs again). Raises ValueError for a
        DuckDB file, which keeps no snapshots or small files to compact."""
        if self.lake is None:
            raise ValueError(
                f"{self.path} is a DuckDB file: only a DuckLake warehouse is compacted"
            )
        with self.writer() as con:
            retrying = Retrying(
                retry=retry_if_exception(ducklake.is_conflict),
                wait=wait_random_exponential(multiplier=0.05, max=2.0),
                stop=stop_after_attempt(CONFLICT_ATTEMPTS),
                reraise=True,
            )
            return retrying(lambda: ducklake.maintain(con, older_than))

    def stored_cursor(self, source: str, table: str) -> str | None:
        """The incremental cursor the last successful load of `source.table` stored in
        `_tributary.state`, or None (read-only, closed at once)."""
        if self.lake is None and not self.file.exists():
            return None
        with self.read_only() as con:
            try:
                row = con.execute(
                    "SELECT cursor_value FROM _tributary.state WHERE source = ? AND table_name = ?",
                    [source, table],
                ).fetchone()
            except duckdb.CatalogException:
                return None
        return None if row is None or row[0] is None else str(row[0])

    def stored_columns(self, schema: str, table: str) -> dict[str, str] | None:
        """Column name → type of a stored table, or None if the warehouse has no such table."""
        if self.lake is None and not self.file.exists():
            return None
        with self.read_only() as con:
            return stored_columns(con, schema, table)

    @contextlib.contextmanager
    def read_only(self, private: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, retried while a writer holds the file. On a DuckLake: an
        in-memory database with the lake attached read-only as its default (no lock to wait
        for: readers see the last committed snapshot), shared by the process's readers unless
        `private` (a connection whose settings the caller changes, as `tributary query` does)."""
        lake = self.lake
        con = (
            (lake.connect(read_only=True) if private else lake.cursor(read_only=True))
            if lake is not None
            else retry_while_locked(
                lambda: duckdb.connect(str(self.file), read_only=True), self.lock_timeout_seconds
            )
        )
        try:
            yield con
        finally:
            con.close()
