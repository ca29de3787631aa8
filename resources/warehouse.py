"""The warehouse writer: every source kind lands its batches through here.

A load stages its batch in a private DuckDB file (no warehouse lock held while a source is read),
or plans a scan of local files. Holding the warehouse, it writes the batch into a scratch table,
then judges and lands it with the load record, the incremental cursor and any schema changes in
one transaction. Writers are serialized by a file lock; readers retry while a writer commits.

`Load.commit` is the one place a load reads top to bottom (stage, plan, batch, gate, write by
disposition, record); the SQL of each step is in `resources.write_dispositions`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeGuard, TypeVar, cast

import duckdb
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
from resources.duckdb_sql import literal, quote
from resources.file_ledger import FilePlan, FileVersion
from resources.quarantine import (
    DeadLetter,
    dead_letter_quarantined,
    forget_files,
    quarantine_where,
    record_dead_letters,
    record_verdict,
)
from resources.schema_evolution import (
    SchemaChange,
    columns_of,
    joined_type,
    stored_columns,
    with_null_columns,
)
from resources.type_lattice import is_null_type
from resources.uniqueness import KeyCounts
from resources.warehouse_schema import ensure_platform_schema
from resources.write_dispositions import (
    INTO_EXISTING,
    Lineage,
    WriteOutcome,
    WriteSpec,
    apply_deletes,
    clear_for_refresh,
    count_rows,
    create_batch,
    data_columns,
    drop_batch,
    drop_orphan_batches,
    empty,
    existing_columns,
    fit_target,
    parent_keys,
    refuse_empty,
    refuse_null_keys,
    rename_into_place,
    replace,
    replaced_rows,
    resolve_repeated_keys,
    run_delete,
    schema_exists,
    stale_children,
    take_deletes,
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


if TYPE_CHECKING:  # Arrow loads with the first remote batch staged; local files need none
    import pyarrow as pa

StagedData: TypeAlias = "duckdb.DuckDBPyRelation | pa.Table | pa.RecordBatchReader"


def _is_arrow(part: object) -> TypeGuard[pa.Table | pa.RecordBatchReader]:
    """Whether `part` is an Arrow table or stream (pyarrow is loaded if the caller made one)."""
    import sys

    arrow = sys.modules.get("pyarrow")
    return arrow is not None and isinstance(part, arrow.Table | arrow.RecordBatchReader)


def _is_arrow_table(part: object) -> TypeGuard[pa.Table]:
    """Whether `part` is an Arrow table (not a stream)."""
    import sys

    arrow = sys.modules.get("pyarrow")
    return arrow is not None and isinstance(part, arrow.Table)


STAGED_TABLE = "staged"
CONFLICT_ATTEMPTS = 20
"""How often a transaction that lost a DuckLake commit conflict is run again."""
FAILURE_RECORD_SECONDS = 5.0
"""How long recording a failed load waits for the warehouse (see `Load.fail`)."""
HELD_BATCH_BYTES = 64 * 1024 * 1024
"""The largest Arrow batch a load keeps in memory until its commit instead of writing it to
its staging file (see `Load.stage`): the caller holds it anyway, and the commit reads it once."""
SESSION_HOLD_SECONDS = 5.0
"""How long a `WriterSession` keeps the warehouse between its loads' commits before letting go
of it after one, so other writers and readers get their turn."""
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
    if _is_arrow(part):
        import pyarrow as pa

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
    reader_metadata: dict[str, Any] = field(default_factory=dict)
    """What the reader reports beside the load (a replication slot's lag...)."""

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
        data.update(self.reader_metadata)
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


class Load:
    """One batch on its way to one table. Made by `Warehouse.load()`; see there.

    A batch arrives one of three ways. `stage()` copies rows fetched from elsewhere (Arrow, or a
    relation on `self.connection`) into a private staging file, outside any warehouse lock.
    `scan()` hands over a query over local, re-readable files; the commit's transaction reads it
    once, straight into the warehouse, which is as fast as DuckDB's own readers get.
    `scan_files()` does the same for files the file ledger has not yet seen in their version.
    A batch may bring child batches (`child()`), which land in its transaction.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        source: str,
        table: str,
        run_id: str | None,
        session: WriterSession | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.session = session
        """The writer session whose connection the commit uses, if any (see `WriterSession`)."""
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
        self.reader_metadata: dict[str, Any] = {}
        """Set by the reader: reported with the load's result (`LoadResult.reader_metadata`)."""
        self.full_refresh = False
        """Set by the caller when the run reloads the table from scratch: a reader then starts
        from the beginning, not from its stored position."""
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._staging_opened = False
        self._staged = False
        self._held: pa.Table | None = None
        """The batch, when it arrived as one Arrow table small enough to keep in memory (see
        `stage`): the commit reads it from there, and no staging file is written."""
        self._null_only: dict[str, str] = {}
        """Staged columns that held only nulls so far (lower-case name → name)."""
        self._scan_sql: str | None = None
        self._files: _Files | None = None
        self._children: list[_Child] = []
        self.dead_letters: list[DeadLetter] = []
        """Set by a reader of messages: those that could not become rows. The commit records
        them in `_tributary.dead_letters` in its transaction (also when no row arrived)."""
        self.dead_letter_key: str | None = None
        """Set by a reader of messages: the column holding each row's message id. Rows the
        gate sets aside in quarantine are then dead-lettered too, by that id."""
        self.inputs: dict[str, list[str]] = {}
        """Set by a model: `{schema.table: [load ids]}` of the inputs its rows were computed
        from, recorded in `_tributary.lineage` with the load."""

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The staging database, a DuckDB file of this load's own. A batch held in memory is
        written into it first, so that whoever reads the staged table finds it there."""
        if self._connection is None:
            self.staging_path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = duckdb.connect(
                str(self.staging_path), config={"memory_limit": self.warehouse.memory_limit}
            )
            self._staging_opened = True
            self._write_held()
        return self._connection

    def _write_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._null_only = {}
            self._stage_part(held)

    def scan(self, rows_sql: str) -> None:
        """Have the commit read the batch from `rows_sql`, a query over local files."""
        self._scan_sql = rows_sql

    def stage(self, data: StagedData | Iterable[StagedData]) -> None:
        """Copy a batch (a relation on `self.connection`, Arrow data, or an iterable of those)
        into the staging file. Columns new in a later part are added; missing ones stay null.

        A batch that is one Arrow table of at most `HELD_BATCH_BYTES` (a stream's micro-batch)
        is kept as it is instead, and the commit reads it straight into the warehouse: writing
        it into a file of its own first would copy it once more for nothing. It is written to
        the staging file after all when another part follows or the staging file is opened."""
        single = isinstance(data, duckdb.DuckDBPyRelation) or _is_arrow(data)
        parts = [data] if single else cast(Iterable[StagedData], data)
        for part in parts:
            if (
                _is_arrow_table(part)
                and part.schema.names
                and not (self._staged or self._staging_opened or self._held is not None)
                and part.nbytes <= HELD_BATCH_BYTES
            ):
                self._held = part
                self._null_only = {n.lower(): n for n in _null_columns(part, [])}
                continue
            self._write_held()
            self._stage_part(part)

    def _stage_part(self, part: StagedData) -> None:
        """Append one part to the staged table, widening its columns along the type lattice.

        A column that holds only nulls in a part (Arrow's null type, DuckDB's NULL) is no evidence
        of a type: it is staged as a placeholder until a part brings values, and the commit lands
        it as null in the stored column, or not at all where none is stored."""
        if _is_arrow(part) and not part.schema.names:
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
        the rows that would land.

        The load, top to bottom (every step below is a call that returns here; the SQL of each
        write disposition is in `resources.write_dispositions`):

        1. stage: the staging files are closed and attached to the writer;
        2. plan, holding the warehouse: which rows arrive (`_plan_files`, `_rows_sql`);
        3. the batch tables: each batch written once, with lineage, into a scratch table,
           committed on its own (`_create_batches`);
        4. one transaction (`_land`): repeated keys resolved, the gate, the rows written by
           disposition (`_write_rows`), the file ledger, the child batches (`_land_child`), the
           load record and cursor (`_record`). On any error the scratch tables are dropped.
        """
        # 1. stage
        stages: dict[str, Path] = {}
        held: dict[str, pa.Table] = {}
        for alias, load in self._stages().items():
            load._close_staging()
            if load._staged:
                stages[alias] = load.staging_path
            elif load._held is not None:
                held[alias] = load._held
        lineage = Lineage(self.load_id, datetime.now(UTC), self.source)
        asked = time.perf_counter()
        with self._writer(stages, held, spec.target) as con:
            locked = time.perf_counter()
            # 2. plan
            files = self._plan_files(con, spec)
            rows_sql = self._rows_sql(files)
            if rows_sql is None:
                outcome = in_transaction(con, lambda c: self._land_nothing(c, spec, cursor, files))
            else:
                # 3. the batch tables
                created_schema = not schema_exists(con, spec.target_schema)
                batch, children = in_transaction(
                    con, lambda c: self._create_batches(c, spec, rows_sql, lineage, stages, held)
                )
                # 4. one transaction
                try:
                    outcome = in_transaction(
                        con,
                        lambda c: self._land(
                            c, spec, batch, lineage, cursor, gate, files, children
                        ),
                    )
                except BaseException:
                    for child, child_batch in children:
                        if child_batch is not None:
                            drop_batch(con, child.spec, child_batch, drop_empty_schema=False)
                    drop_batch(con, spec, batch, drop_empty_schema=created_schema)
                    raise
            columns = stored_columns(con, spec.target_schema, spec.target_table) or {}
        finished = time.perf_counter()
        result = self._result(spec, outcome, cursor, finished, locked - asked, finished - locked)
        result.columns, result.source_names = columns, dict(self.source_names)
        result.reader_metadata = dict(self.reader_metadata)
        result.children = [
            child.load._result(child.spec, done, None, finished, locked - asked, finished - locked)
            for child, done in zip(self._children, outcome.children, strict=False)
        ]
        return result

    @contextlib.contextmanager
    def _writer(
        self, stages: Mapping[str, Path], held: Mapping[str, pa.Table], table: str
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer connection for the commit (the session's, if the load belongs to one),
        with the staging files attached and the batches held in memory registered, each by its
        alias (see `_relation`)."""
        writer = (
            self.session.connection(stages, table)
            if self.session is not None
            else self.warehouse.writer(attachments=stages, table=table)
        )
        with writer as con:
            for alias, rows in held.items():
                con.register(alias, rows)
            try:
                yield con
            finally:
                for alias in held:
                    with contextlib.suppress(duckdb.Error):
                        con.unregister(alias)

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
        """The query of the batch's rows: the planned files', the scan's or the staged rows'.
        None when nothing arrived."""
        if files is not None:
            return self._files.rows_sql(files.read) if files.read and self._files else None
        if self._scan_sql is not None:
            return self._scan_sql
        if self._staged or self._held is not None:
            return f"SELECT * FROM {self._relation('__stage')}"
        return None

    def _relation(self, alias: str) -> str:
        """Where the commit reads this load's staged rows: its staging file, attached as
        `alias`, or its batch held in memory, registered as `alias`."""
        return alias if self._held is not None else f"{alias}.main.{STAGED_TABLE}"

    def _land_nothing(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        cursor: str | None,
        files: FilePlan | None,
    ) -> WriteOutcome:
        """No rows arrived. With files planned, none was new: the load lands nothing and
        succeeds. Otherwise nothing arrived at all: refused unless `allow_empty`, which
        empties a replaced table."""
        if files is None:
            return self._record(con, spec, _nothing_arrived(con, spec), cursor)
        file_ledger.record(
            con, self.source, self.table, files.touched, files.hashes, self.load_id, self.started_at
        )
        return self._record(con, spec, WriteOutcome(), cursor)

    def _create_batches(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        rows_sql: str,
        lineage: Lineage,
        stages: Mapping[str, Path],
        held: Mapping[str, pa.Table],
    ) -> tuple[str, list[tuple[_Child, str | None]]]:
        """Write the batch and its child batches into scratch tables (see `create_batch`);
        returns the batch table and each child with its batch table (None if it staged
        nothing). Nothing refers to them until they land, and DuckDB scans committed data
        about twice as fast as a transaction's own, which the gate and the merge both do."""
        if self._null_only and self._scan_sql is None:
            rows_sql = with_null_columns(
                con, spec.target_schema, spec.target_table, rows_sql, self._null_only.values()
            )
        batch = create_batch(con, spec, rows_sql, lineage)
        children: list[tuple[_Child, str | None]] = []
        for alias, child in zip(self._child_aliases(), self._children, strict=True):
            if alias not in stages and alias not in held:
                children.append((child, None))
                continue
            sql = f"SELECT * FROM {child.load._relation(alias)}"
            if child.load._null_only:
                sql = with_null_columns(
                    con,
                    child.spec.target_schema,
                    child.spec.target_table,
                    sql,
                    child.load._null_only.values(),
                )
            child_lineage = Lineage(child.load.load_id, lineage.loaded_at, self.source)
            children.append((child, create_batch(con, child.spec, sql, child_lineage)))
        return batch, children

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
        """One load's transaction, top to bottom."""
        rows_in = count_rows(con, batch)
        # a. one row per key (merge, scd2), so that the gate judges the rows that would land
        batch, superseded, counts = resolve_repeated_keys(con, spec, batch)
        # b. the gate: outcomes recorded, rows set aside, or the whole batch blocked
        if files is not None:
            forget_files(con, self.source, self.table, [v.name for v in files.read])
        known = {tuple(spec.primary_key): counts} if counts is not None else None
        verdict = gate(con, batch, known) if gate is not None else None
        quarantined = 0
        if verdict is not None:
            quarantined = record_verdict(con, verdict, batch, self.load_id, self.source, self.table)
            if quarantined and self.dead_letter_key is not None:
                dead_letter_quarantined(
                    con, self.load_id, self.source, self.table, self.dead_letter_key
                )
        blocked = verdict is not None and verdict.blocked
        parents = parent_keys(con, spec, batch, lineage) if children and not blocked else None
        # c. the rows, by disposition; rows of earlier versions of the files read go
        if blocked:
            con.execute(f"DROP TABLE {batch}")
            outcome = WriteOutcome()
            cursor = None
        else:
            replaced = replaced_rows(con, spec, batch, files, self.load_id) if files else None
            # Setting rows aside adds no null key and no repeat: the counts still hold then.
            still = (
                counts if counts is not None and not (quarantined and counts.null_keys) else None
            )
            outcome = _write_rows(con, spec, batch, lineage, still)
            outcome.deleted += run_delete(con, replaced)
            # d. the file ledger records the versions read
            if files is not None:
                self._record_files(con, spec, files)
        outcome.rows_in, outcome.superseded = rows_in, outcome.superseded + superseded
        outcome.verdict, outcome.quarantined = verdict, quarantined
        # e. the child batches, after their parent
        outcome.children = [
            child.load._land_child(con, child, child_batch, parents, lineage, verdict, self.table)
            for child, child_batch in children
        ]
        if parents is not None:
            con.execute(f"DROP TABLE {parents}")
        # f. the load record, the cursor, the schema changes
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
            stale = stale_children(con, spec, batch, root, parents, self.load_id)
            if batch is not None:
                child_lineage = Lineage(self.load_id, lineage.loaded_at, self.source)
                outcome = _write_rows(con, spec, batch, child_lineage)
            else:
                outcome = _nothing_arrived(con, spec)
            outcome.deleted += run_delete(con, stale)
        outcome.rows_in, outcome.quarantined = rows_in, moved
        return self._record(con, spec, outcome, None)

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

    def _record(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: WriteSpec,
        outcome: WriteOutcome,
        cursor: str | None,
    ) -> WriteOutcome:
        """The load record, the cursor, the lineage of its inputs and the schema changes, in the
        load's transaction."""
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
        record_dead_letters(con, self.dead_letters, self.load_id, self.source, self.table)
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
        for name, load_ids in self.inputs.items():
            for input_load_id in load_ids:
                con.execute(
                    "INSERT INTO _tributary.lineage VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        self.load_id,
                        self.run_id,
                        f"{self.source}.{self.table}",
                        name,
                        input_load_id,
                        now,
                    ],
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
        transaction = (
            self.warehouse.transaction if self.session is None else self.session.transaction
        )
        transaction(
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
        self._held = None
        self._close_staging()
        for path in (
            self.staging_path,
            self.staging_path.with_name(self.staging_path.name + ".wal"),
        ):
            path.unlink(missing_ok=True)


class WriterSession:
    """One writer connection kept across several loads' commits (made by `Warehouse.session`).

    Opening the warehouse, and letting go of it (which writes its log back into the file, a
    checkpoint), cost more than the commit of a small batch; a run of many small batches pays
    them once per `hold_seconds` instead of once per batch. Each load still commits in one
    transaction of its own, so a crash leaves the warehouse as of the last commit, exactly as
    without a session. After a commit that comes `hold_seconds` or more after it took the
    warehouse, the session lets go of it (other writers and readers wait for it meanwhile) and
    takes it again at the next commit; also after any failed commit, and when a load writes
    another table than the one it holds on a DuckLake.

    Used by one thread at a time. `opened` counts how often it took the warehouse."""

    def __init__(self, warehouse: Warehouse, hold_seconds: float = SESSION_HOLD_SECONDS) -> None:
        self.warehouse = warehouse
        self.hold_seconds = hold_seconds
        self.opened = 0
        self._held: contextlib.ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._table: str | None = None
        self._since = 0.0

    @contextlib.contextmanager
    def load(self, source: str, table: str, run_id: str | None = None) -> Iterator[Load]:
        """`Warehouse.load`, committing on this session's connection."""
        with self.warehouse.load(source, table, run_id, session=self) as load:
            yield load

    @contextlib.contextmanager
    def connection(
        self, attachments: Mapping[str, Path], table: str | None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The session's writer connection (taken now if not held), with `attachments` attached
        read-only for the block (see `Warehouse.writer`). An error in the block lets go of the
        warehouse: the connection is not trusted after it."""
        if self._con is not None and self._table != table and self.warehouse.lake is not None:
            self.release()  # a DuckLake's writer holds the lock of one table
        con = self._con if self._con is not None else self._take(table)
        try:
            for alias, path in attachments.items():
                con.execute(f"ATTACH {literal(str(path))} AS {alias} (READ_ONLY)")
            yield con
        except BaseException:
            self.release()
            raise
        for alias in attachments:
            con.execute(f"DETACH DATABASE IF EXISTS {alias}")
        if time.perf_counter() - self._since >= self.hold_seconds:
            self.release()

    def transaction(
        self, work: Callable[[duckdb.DuckDBPyConnection], _T], timeout: float | None = None
    ) -> _T:
        """`Warehouse.transaction`, on the session's connection while it holds one."""
        if self._con is None:
            return self.warehouse.transaction(work, timeout)
        return in_transaction(self._con, work)

    def _take(self, table: str | None) -> duckdb.DuckDBPyConnection:
        stack = contextlib.ExitStack()
        con = stack.enter_context(self.warehouse.writer(table=table))
        self._held, self._con, self._table = stack, con, table
        self._since = time.perf_counter()
        self.opened += 1
        return con

    def release(self) -> None:
        """Let go of the warehouse (closing the connection); the next commit takes it again."""
        held, self._held, self._con = self._held, None, None
        if held is not None:
            held.close()


def _write_rows(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    lineage: Lineage,
    counts: KeyCounts | None = None,
) -> WriteOutcome:
    """Step c of a load: land the batch table made by `create_batch` as `spec.write` says.

    Under merge and scd2 the batch holds one row per key (see `resolve_repeated_keys`; any
    repeats left are resolved here); `counts` are its key counts if already taken, so the key
    is not counted twice. Raises `BatchError` on a null key, `SchemaPolicyError` on columns the
    table's `schema_policy` refuses."""
    incoming = data_columns(columns_of(con, batch))
    rows_in = count_rows(con, batch)
    existing = existing_columns(con, spec)
    superseded = cleared = 0
    if spec.full_refresh and existing is not None:
        cleared = clear_for_refresh(con, spec, rows_in)
        existing = None if rows_in else existing
    if rows_in == 0 and existing is None and spec.allow_empty:
        outcome = rename_into_place(con, spec, batch, 0)  # the table, with the batch's columns
    elif rows_in == 0:
        con.execute(f"DROP TABLE {batch}")
        outcome = _nothing_arrived(con, spec)
    elif spec.write == "replace":
        outcome = replace(con, spec, batch, incoming, existing)
    else:
        if spec.write in ("merge", "scd2"):
            if counts is None or counts.repeats:
                batch, superseded, counts = resolve_repeated_keys(con, spec, batch)
            refuse_null_keys(spec, counts)
        gone = None
        if spec.write == "merge":
            # Captured deletes (CDC) are set aside before the write, applied after it.
            batch, gone = take_deletes(con, spec, batch, existing)
        if existing is None:
            outcome = rename_into_place(con, spec, batch, count_rows(con, batch))
        else:
            incoming = data_columns(columns_of(con, batch))
            fitted = fit_target(con, spec, batch, incoming, existing)
            write = INTO_EXISTING[spec.write]
            outcome = write(con, spec, batch, fitted.copied, fitted.as_stored, lineage)
            outcome.schema_changes = fitted.changes
            con.execute(f"DROP TABLE {batch}")
        if gone is not None:
            outcome.deleted += apply_deletes(con, spec, gone, lineage)
    outcome.rows_in = rows_in
    outcome.superseded = superseded
    outcome.deleted += cleared
    return outcome


def _nothing_arrived(con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> WriteOutcome:
    """No rows (or no columns) arrived: refused unless `allow_empty`, which empties a replaced
    table and adds nothing to the others."""
    refuse_empty(spec)
    return empty(con, spec, existing_columns(con, spec))


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
    def load(
        self,
        source: str,
        table: str,
        run_id: str | None = None,
        session: WriterSession | None = None,
    ) -> Iterator[Load]:
        """Stage and commit one batch. On any error the failed load is recorded, nothing else in
        the warehouse changes, and the error propagates. A load of a `session` commits on its
        connection (see `WriterSession`). On a DuckLake, the process's connection to the lake is
        made in the background meanwhile (see `ducklake.Lake.warm`)."""
        self.sweep_staging()
        if self.lake is not None:
            self.lake.warm(**self._lake_settings())
        load = Load(self, source, table, run_id, session)
        try:
            yield load
        except BaseException as error:
            with contextlib.suppress(Exception):
                load.fail(error)
            raise
        finally:
            load.discard_staging()

    @contextlib.contextmanager
    def session(self, hold_seconds: float = SESSION_HOLD_SECONDS) -> Iterator[WriterSession]:
        """A `WriterSession` for a run of many small loads (a stream's batches): their commits
        share one writer connection instead of each opening the warehouse. Closed (the
        warehouse let go of) when the block exits."""
        session = WriterSession(self, hold_seconds)
        try:
            yield session
        finally:
            session.release()

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
            con = lake.cursor(**self._lake_settings())
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

    def _lake_settings(self) -> dict[str, Any]:
        """The settings of a writer's instance for the lake (`ducklake.Lake.cursor`)."""
        return {
            "memory_limit": self.memory_limit,
            "temp_directory": self.staging_directory / f"lake.{os.getpid()}.tmp",
        }

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
