"""The SQL of each step a load takes, called in order by `Load.commit` (resources/warehouse.py),
which decides; nothing here calls back into the load.

- the batch: `create_batch` writes the rows once, with their lineage columns (`_load_id`,
  `_loaded_at`, `_source`) and `_row_hash` (see `row_hash`), into a scratch table;
  `resolve_repeated_keys` keeps one row per key (merge, scd2) before the gate judges them;
- the dispositions: `rename_into_place` (a first load), `replace`, `empty`, and into an existing
  target fitted by `fit_target` (columns reconciled under `schema_policy`): `append`, `merge`,
  `scd2` (`INTO_EXISTING`);
- the deletes a load makes around its write: `replaced_rows` (rows of files read again),
  `stale_children` (child rows a merged parent no longer lists), run by `run_delete`.

A replace, or any first load, renames the batch into place, so its rows are written to the
warehouse exactly once; that batch is a table beside the target. Into an existing table the other
dispositions insert from the batch and drop it; that batch is a temporary table, which never
reaches the warehouse file, so only the rows that land are written there. Merge and scd2 compare
row hashes with the stored ones, so an unchanged row is neither read whole nor rewritten; a
stored column the batch does not carry keeps its stored value (the hashes are then compared over
the columns the batch carries).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from resources.duckdb_sql import column_list, literal, qualified, quote
from resources.ducklake import is_ducklake, without_enums
from resources.errors import TributaryError
from resources.file_ledger import FilePlan
from resources.naming import respelled_columns
from resources.schema_evolution import (
    SchemaChange,
    SchemaPolicyError,
    columns_of,
    differences,
    reconcile,
)
from resources.uniqueness import KeyCounts, key_counts
from resources.warehouse_schema import DELETED_AT, LINEAGE_COLUMNS, ROW_HASH, SOURCE_FILE

if TYPE_CHECKING:
    from checks.gate import Verdict

SCD2_COLUMNS = ("_valid_from", "_valid_to")
RESERVED_COLUMNS = frozenset((*LINEAGE_COLUMNS, ROW_HASH, *SCD2_COLUMNS))
"""Columns the writer adds; a batch that brings one of its own is refused."""
NOT_DATA_COLUMNS = RESERVED_COLUMNS | {SOURCE_FILE}
"""Columns outside a row's data: neither hashed nor reconciled under `schema_policy`."""


class BatchError(TributaryError):
    """The batch cannot be written as configured (null or missing keys, an empty batch...)."""


@dataclass(frozen=True)
class Deletes:
    """How a merge applies deletes captured at the source (change data capture). A batch row
    whose `_deleted_at` (TIMESTAMPTZ) is set says its key was deleted then; the batch holds one
    row per key, its final state.

    Soft: the stored row keeps its last values and gets `_deleted_at` (a key never stored lands
    as the batch row, a tombstone); a later insert of the key brings it back with NULL. Hard:
    the stored row is deleted, and the table has no `_deleted_at` column."""

    soft: bool = True
    truncated_at: datetime | None = None
    """The source table was emptied at this time, before every change of the batch: stored
    rows whose key the batch does not bring are deleted (soft: marked deleted then)."""


@dataclass(frozen=True)
class WriteSpec:
    target_schema: str
    target_table: str
    write: str
    primary_key: Sequence[str] = ()
    order_by: str | None = None
    schema_policy: str = "evolve"
    allow_empty: bool = False
    full_refresh: bool = False
    """Reload from scratch: the batch replaces the table whole, then lands as a first load would
    under `write` (deduplicated for merge, new history for scd2)."""
    deletes: Deletes | None = None
    """Under merge: the batch carries captured deletes (see `Deletes`)."""

    @property
    def target(self) -> str:
        return f"{quote(self.target_schema)}.{quote(self.target_table)}"


@dataclass(frozen=True)
class Lineage:
    load_id: str
    loaded_at: datetime
    source: str

    @property
    def at(self) -> str:
        return f"{literal(self.loaded_at.isoformat())}::TIMESTAMPTZ"

    def select_sql(self) -> str:
        """The lineage columns' values. Every row of a load carries the same three, so they are
        stored as fixed-width types (UUID, TIMESTAMPTZ, an ENUM of the one source name), which
        DuckDB compresses to nothing; constant strings cost a fifth of DuckDB's own write time."""
        source = literal(self.source)
        return (
            f"{literal(self.load_id)}::UUID AS _load_id, {self.at} AS _loaded_at, "
            f"{source}::ENUM({source}) AS _source"
        )


@dataclass
class WriteOutcome:
    rows_in: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    superseded: int = 0
    """Batch rows dropped for a later row of the same key in the same batch (merge, scd2)."""
    children: list[WriteOutcome] = field(default_factory=list)
    """How the load's child batches landed, in the order they were added."""
    schema_changes: list[SchemaChange] = field(default_factory=list)
    verdict: Verdict | None = None
    quarantined: int = 0


BATCH_PREFIX = "__batch_"
TEMPORARY = "temp.main."
"""Prefix of a temporary table's qualified name: it lives with the connection, not in the file."""


def _create_table(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    """`CREATE TABLE table AS select_sql`, temporary when `table` is named in `TEMPORARY`.
    A DuckLake has no ENUM: its tables store such columns as VARCHAR."""
    kind = "TEMP TABLE" if table.startswith(TEMPORARY) else "TABLE"
    if kind == "TABLE" and is_ducklake(con):
        select_sql = without_enums(con, select_sql)
    con.execute(f"CREATE {kind} {table} AS {select_sql}")


def schema_exists(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.schemata "
        "WHERE catalog_name = current_database() AND schema_name = ?",
        [schema],
    ).fetchone()
    return bool(found and found[0])


def drop_batch(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, drop_empty_schema: bool
) -> None:
    """Drop a batch table that did not land (and its schema, if the load made it for nothing)."""
    con.execute(f"DROP TABLE IF EXISTS {batch}")
    if drop_empty_schema:
        tables = con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = ?",
            [spec.target_schema],
        ).fetchone()
        if tables is not None and tables[0] == 0:
            con.execute(f"DROP SCHEMA IF EXISTS {quote(spec.target_schema)}")


def drop_orphan_batches(con: duckdb.DuckDBPyConnection) -> None:
    """Drop batch tables a writer left when it died. Called by a writer holding the lock: no
    other load is under way, so every batch table is an orphan."""
    orphans = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE starts_with(table_name, ?) "
        "AND database_name = current_database()",
        [BATCH_PREFIX],
    ).fetchall()
    for schema, table in orphans:
        con.execute(f"DROP TABLE {quote(schema)}.{quote(table)}")


def create_batch(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, rows_sql: str, lineage: Lineage
) -> str:
    """Write the batch's rows (any SQL query) once, with lineage, into a scratch table.

    Returns the quoted name of that table. A batch that may become the target (a replace, or a
    first load) is a table beside the target, so renaming it lands it; the load drops it if it
    does not land, and a writer drops any left over by a dead one (`drop_orphan_batches`). A batch
    bound for an existing table is temporary: it never reaches the warehouse file, and goes with
    the connection whatever happens.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(spec.target_schema)}")
    incoming = columns_of(con, f"({rows_sql})")
    reserved = {name.lower() for name in RESERVED_COLUMNS}
    clashes = sorted(name for name in incoming if name.lower() in reserved)
    if clashes:
        raise BatchError(f"the batch has columns reserved for the platform: {', '.join(clashes)}")
    existing = existing_columns(con, spec)
    if existing is not None and (respelled := respelled_columns(existing, incoming)):
        raise BatchError(_respelled_message(spec, respelled))
    if existing is not None and (renames := _stored_spelling(incoming, existing)):
        pairs = ", ".join(f"{quote(old)} AS {quote(new)}" for old, new in renames.items())
        rows_sql = f"SELECT * RENAME ({pairs}) FROM ({rows_sql})"
        incoming = {renames.get(name, name): kind for name, kind in incoming.items()}
    lands_by_rename = spec.write == "replace" or spec.full_refresh or existing is None
    schema = quote(spec.target_schema) + "." if lands_by_rename else TEMPORARY
    batch = schema + quote(BATCH_PREFIX + lineage.load_id)
    validity = (
        f", {lineage.at} AS _valid_from, NULL::TIMESTAMPTZ AS _valid_to"
        if spec.write == "scd2"
        else ""
    )
    hashed = data_columns(incoming)
    if spec.deletes is not None and not spec.deletes.soft:
        hashed.pop(DELETED_AT, None)  # a marker only: the table will not hold it
    _create_table(
        con,
        batch,
        f"SELECT *, {lineage.select_sql()}, {row_hash(_own_values(hashed))} "
        f"AS {quote(ROW_HASH)}{validity} FROM ({rows_sql})",
    )
    return batch


def _respelled_message(spec: WriteSpec, respelled: list[tuple[str, str]]) -> str:
    """Why a batch whose columns respell stored ones (a changed `column_names`) cannot land,
    and the one statement per column that renames the stored column instead."""
    table = qualified(spec.target_schema, spec.target_table)
    pairs = ", ".join(f"stored {quote(old)} arrives as {quote(new)}" for old, new in respelled)
    fixes = "; ".join(
        f"ALTER TABLE {table} RENAME COLUMN {quote(old)} TO {quote(new)}" for old, new in respelled
    )
    return (
        f"column names changed spelling ({pairs}) and would land as second columns: rename the "
        f"stored columns once ({fixes}), or set column_names to the convention they were "
        "loaded with"
    )


def _stored_spelling(incoming: dict[str, str], existing: dict[str, str]) -> dict[str, str]:
    """Batch columns named like a stored column but for case (`Email` for `email`), with the
    stored name. DuckDB's names ignore case, so they are that column; spelled as stored, they
    hash and compare as it does instead of failing to be added beside it."""
    stored = {name.lower(): name for name in existing}
    return {
        name: stored[name.lower()]
        for name in incoming
        if name.lower() in stored and stored[name.lower()] != name
    }


def row_hash(values: Mapping[str, str]) -> str:
    """SQL for a row's `_row_hash`: one 64-bit hash of its data columns in column-name order.

    `values` maps each data column of the table the row is stored in to the SQL of its value as
    stored there (cast to the column's type), so equal rows hash alike whatever order or types
    their batch arrived in.
    """
    return f"hash({', '.join(values[name] for name in sorted(values))})"


def _own_values(columns: dict[str, str]) -> dict[str, str]:
    return {name: quote(name) for name in columns}


def _values_as_stored(stored: dict[str, str], batch: dict[str, str]) -> dict[str, str]:
    """A batch row's value of each stored column, cast to the stored type (NULL if it has none)."""
    values = {}
    for name, stored_type in stored.items():
        if name not in batch:
            values[name] = f"NULL::{stored_type}"
        elif batch[name] != stored_type:
            values[name] = f"{quote(name)}::{stored_type}"
        else:
            values[name] = quote(name)
    return values


@dataclass(frozen=True)
class _AsStored:
    """SQL over a batch row in the target's terms, where their column types may differ."""

    hash: str
    """The batch row's hash to compare with `stored_hash`: its own `_row_hash` when the columns
    agree. With columns absent from the batch, a hash over the columns it carries only."""
    keys: dict[str, str]
    """Each primary key column's value, cast to the stored type. Compared in the batch's own
    type, DuckDB would cast the stored side instead, and fail on a VARCHAR key widened from
    numbers once a batch brings numbers again."""
    stored_hash: str = quote(ROW_HASH)
    """The stored row's hash over the same columns as `hash`."""
    absent: tuple[str, ...] = ()
    """Stored data columns the batch does not carry: a merged row keeps their stored values."""
    full_hash: str = ""
    """With `absent` columns: the `_row_hash` of a batch row once they are filled in."""

    @classmethod
    def of(
        cls,
        stored: dict[str, str],
        batch: dict[str, str],
        keys: Sequence[str],
        keep_absent: bool = False,
    ) -> _AsStored:
        """`keep_absent`: columns missing from the batch keep their stored values (merge, scd2)
        rather than become NULL (a new row, an append)."""
        values = _values_as_stored(stored, batch)
        key_values = {k: values.get(k, quote(k)) for k in keys}
        absent = tuple(name for name in stored if name not in batch) if keep_absent else ()
        if not absent:
            row = quote(ROW_HASH) if stored == batch else row_hash(values)
            return cls(row, key_values)
        carried = {name: value for name, value in values.items() if name not in absent}
        return cls(
            hash=row_hash(carried),
            keys=key_values,
            stored_hash=row_hash(_own_values(carried)),
            absent=absent,
            full_hash=row_hash({**values, **_own_values(dict.fromkeys(absent, ""))}),
        )

    def key_select(self) -> str:
        return ", ".join(f"{value} AS {quote(key)}" for key, value in self.keys.items())

    def key_casts(self) -> str:
        """`, <key> AS <key>` for every key whose stored type differs, for a `REPLACE`."""
        return "".join(
            f", {value} AS {quote(key)}" for key, value in self.keys.items() if value != quote(key)
        )


def resolve_repeated_keys(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str
) -> tuple[str, int, KeyCounts | None]:
    """Under merge and scd2, keep one row per primary key of the batch: the latest by
    `order_by`, then by arrival. Done before the batch is judged, so rules judge the rows that
    would land (an order paid, then shipped in one batch is one order, not a repeated key).

    Returns (the batch table, now or as it was; rows superseded by a later row of their key; the
    key counts of the batch returned, None when not keyed). Rows with a null key are kept for the
    gate to judge and the write to refuse. Raises `BatchError` when a key column is missing."""
    if spec.write not in ("merge", "scd2") or not spec.primary_key:
        return batch, 0, None
    present = {name.lower() for name in columns_of(con, batch)}
    missing = [k for k in spec.primary_key if k.lower() not in present]
    if missing:
        raise BatchError(f"primary_key column(s) missing from the batch: {', '.join(missing)}")
    counts = key_counts(con, batch, spec.primary_key)
    if not counts.repeats:
        return batch, 0, counts
    keys = column_list(spec.primary_key)
    null_key = " OR ".join(f"{quote(k)} IS NULL" for k in spec.primary_key)
    order = f"{quote(spec.order_by)} DESC NULLS LAST, " if spec.order_by else ""
    latest = _beside(batch, "latest")
    _create_table(
        con,
        latest,
        f"SELECT * FROM {batch} QUALIFY {null_key} OR "
        f"row_number() OVER (PARTITION BY {keys} ORDER BY {order}rowid DESC) = 1",
    )
    con.execute(f"DROP TABLE {batch}")
    return latest, counts.repeats, KeyCounts(counts.rows - counts.repeats, counts.null_keys, 0)


@dataclass(frozen=True)
class _Gone:
    """The deletes a CDC batch brings, set aside before it lands (see `take_deletes`)."""

    keys: str
    """A temporary table of the deleted keys (in the batch's types) and their `_deleted_at`."""
    brought: str | None
    """With a truncate: a temporary table of every key the batch brings."""


def take_deletes(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    existing: dict[str, str] | None,
) -> tuple[str, _Gone | None]:
    """Set aside the batch's deleted keys, and leave out of the batch the rows the write must
    not land: under hard deletes every deleted row (and the marker column), under soft ones
    those whose key is stored (`apply_deletes` marks the stored row; the others land as
    tombstones). Done before the write, whose schema changes DuckDB refuses after a DELETE on
    the target. Returns (the batch table to write, now or as it was; the deletes set aside)."""
    deletes = spec.deletes
    if deletes is None or DELETED_AT not in columns_of(con, batch):
        return batch, None
    keys = column_list(spec.primary_key)
    marked = f"{quote(DELETED_AT)} IS NOT NULL"
    gone = None
    if existing is not None:
        gone = _Gone(_beside(batch, "gone"), None)
        _create_table(
            con, gone.keys, f"SELECT {keys}, {quote(DELETED_AT)} FROM {batch} WHERE {marked}"
        )
        if deletes.truncated_at is not None:
            brought = _beside(batch, "brought")
            _create_table(con, brought, f"SELECT {keys} FROM {batch}")
            gone = _Gone(gone.keys, brought)
    if not deletes.soft:
        rows = f"SELECT * EXCLUDE ({quote(DELETED_AT)}) FROM {batch} b WHERE NOT b.{marked}"
    elif existing is not None:
        stored = _key_match("t", "b", spec.primary_key)
        rows = (
            f"SELECT * FROM {batch} b WHERE NOT (b.{marked} "
            f"AND EXISTS (SELECT 1 FROM {spec.target} t WHERE {stored}))"
        )
    else:
        return batch, gone
    kept = _beside(batch, "kept")
    _create_table(con, kept, rows)
    con.execute(f"DROP TABLE {batch}")
    return kept, gone


def apply_deletes(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, gone: _Gone, lineage: Lineage
) -> int:
    """After the write: delete (hard) or mark deleted (soft) the stored rows of the deleted
    keys and, after a truncate, of every key the batch did not bring. Returns how many rows
    were deleted or newly marked."""
    assert spec.deletes is not None
    soft, truncated_at = spec.deletes.soft, spec.deletes.truncated_at
    match = _key_match("t", "g", spec.primary_key)
    deleted = 0
    if soft:
        stored = data_columns(columns_of(con, spec.target))
        values = {name: f"t.{quote(name)}" for name in stored}

        def mark(at: str, source: str, where: str) -> int:
            rehash = row_hash({**values, DELETED_AT: at})
            row = con.execute(
                f"UPDATE {spec.target} t SET {quote(DELETED_AT)} = {at}, "
                f"{quote(ROW_HASH)} = {rehash}, _load_id = {literal(lineage.load_id)}::UUID, "
                f"_loaded_at = {lineage.at}{source} "
                f"WHERE t.{quote(DELETED_AT)} IS NULL AND {where}"
            ).fetchone()
            return int(row[0]) if row else 0

        deleted += mark(f"g.{quote(DELETED_AT)}", f" FROM {gone.keys} g", match)
        if gone.brought is not None and truncated_at is not None:
            at = f"{literal(truncated_at.isoformat())}::TIMESTAMPTZ"
            kept = f"NOT EXISTS (SELECT 1 FROM {gone.brought} g WHERE {match})"
            deleted += mark(at, "", kept)
    else:
        row = con.execute(f"DELETE FROM {spec.target} t USING {gone.keys} g WHERE {match}")
        found = row.fetchone()
        deleted += int(found[0]) if found else 0
        if gone.brought is not None:
            found = con.execute(
                f"DELETE FROM {spec.target} t "
                f"WHERE NOT EXISTS (SELECT 1 FROM {gone.brought} g WHERE {match})"
            ).fetchone()
            deleted += int(found[0]) if found else 0
    for table in (gone.keys, gone.brought):
        if table is not None:
            con.execute(f"DROP TABLE {table}")
    return deleted


def refuse_null_keys(spec: WriteSpec, counts: KeyCounts | None) -> None:
    """Raises `BatchError` when the batch holds rows with a null primary key."""
    if counts is not None and counts.null_keys:
        raise BatchError(
            f"{counts.null_keys} row(s) have a null primary_key ({', '.join(spec.primary_key)})"
        )


def refuse_empty(spec: WriteSpec) -> None:
    """Nothing arrived at all (no rows, no columns): raises `BatchError` unless `allow_empty`."""
    if not spec.allow_empty:
        raise BatchError(
            "the batch is empty; refusing to write it so the table keeps its rows "
            "(set allow_empty: true on the table if empty batches are expected)"
        )


def clear_for_refresh(con: duckdb.DuckDBPyConnection, spec: WriteSpec, rows_in: int) -> int:
    """A full refresh of an existing target: drop it (a batch with rows takes its place) or
    empty it (an empty batch keeps its columns). Returns the rows that went."""
    cleared = count_rows(con, spec.target)
    if rows_in:
        con.execute(f"DROP TABLE {spec.target}")
    else:
        con.execute(f"DELETE FROM {spec.target}")
    return cleared


def _beside(batch: str, suffix: str) -> str:
    """A scratch table next to the batch table (`"s"."__batch_x"` → `"s"."__batch_x_<suffix>"`),
    temporary when the batch is."""
    return f'{batch.removesuffix(chr(34))}_{suffix}"'


def count_rows(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    """The number of rows of `relation` (quoted SQL)."""
    row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(row[0]) if row else 0


def existing_columns(con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> dict[str, str] | None:
    """The target's columns and types, None when it does not exist yet."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [spec.target_schema, spec.target_table],
    ).fetchone()
    return columns_of(con, spec.target) if found and found[0] else None


def data_columns(columns: dict[str, str]) -> dict[str, str]:
    """`columns` without the platform's own (lineage, row hash, validity, source file)."""
    return {k: v for k, v in columns.items() if k not in NOT_DATA_COLUMNS}


def _lineage_columns(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, existing: dict[str, str]
) -> tuple[str, ...]:
    """The lineage columns to copy from the batch, once the target can hold them: a batch's
    `_source_file` (an ENUM of its files) needs a VARCHAR column unless its type is the stored
    one, as when the same files are read again."""
    if SOURCE_FILE not in (batch_columns := columns_of(con, batch)):
        return LINEAGE_COLUMNS
    if SOURCE_FILE not in existing:
        con.execute(f"ALTER TABLE {spec.target} ADD COLUMN {quote(SOURCE_FILE)} VARCHAR")
    elif existing[SOURCE_FILE] not in ("VARCHAR", batch_columns[SOURCE_FILE]):
        con.execute(f"ALTER TABLE {spec.target} ALTER {quote(SOURCE_FILE)} TYPE VARCHAR")
    return (*LINEAGE_COLUMNS, SOURCE_FILE)


@dataclass(frozen=True)
class Fitted:
    """An existing target made ready for an append, merge or scd2 of the batch."""

    copied: list[str]
    """The columns to copy from the batch: data, kept absent ones, lineage."""
    as_stored: _AsStored
    changes: list[SchemaChange]


def fit_target(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    existing: dict[str, str],
) -> Fitted:
    """Make the existing target hold the batch as `spec.schema_policy` says: columns added or
    widened (rows rehashed when a merge will compare them), or the batch's refused
    (`SchemaPolicyError`)."""
    if ROW_HASH not in existing:
        con.execute(f"ALTER TABLE {spec.target} ADD COLUMN {quote(ROW_HASH)} UBIGINT")
    columns, changes = reconcile(
        con, spec.target, data_columns(existing), incoming, spec.schema_policy, batch
    )
    stored = data_columns(columns_of(con, spec.target))
    if spec.write != "append" and any(c.change in ("added", "widened") for c in changes):
        _rehash(con, spec.target, stored)
    as_stored = _AsStored.of(stored, incoming, spec.primary_key, spec.write != "append")
    copied = [*columns, *as_stored.absent, *_lineage_columns(con, spec, batch, existing)]
    return Fitted(copied, as_stored, changes)


def _rehash(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    """Recompute every row's `_row_hash` after the table's data columns changed (a new column or
    a wider type changes the hash), so merges go on telling unchanged rows apart. (A DuckLake
    cannot retype a column by an expression: there the hashes are updated in place.)"""
    if is_ducklake(con):
        con.execute(f"UPDATE {table} SET {quote(ROW_HASH)} = {row_hash(_own_values(columns))}")
        return
    con.execute(
        f"ALTER TABLE {table} ALTER COLUMN {quote(ROW_HASH)} TYPE UBIGINT "
        f"USING {row_hash(_own_values(columns))}"
    )


def empty(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, existing: dict[str, str] | None
) -> WriteOutcome:
    """An allowed empty batch: a replace empties the table (keeping its columns); others add
    nothing."""
    if (spec.write != "replace" and not spec.full_refresh) or existing is None:
        return WriteOutcome()
    deleted = count_rows(con, spec.target)
    con.execute(f"DELETE FROM {spec.target}")
    return WriteOutcome(deleted=deleted)


def rename_into_place(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, rows: int
) -> WriteOutcome:
    """A first load (or an allowed empty one): the batch table becomes the target."""
    con.execute(f"ALTER TABLE {batch} RENAME TO {quote(spec.target_table)}")
    return WriteOutcome(inserted=rows)


def replace(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    existing: dict[str, str] | None,
) -> WriteOutcome:
    """The batch becomes the table (renamed into place); the stored rows go. `freeze` refuses a
    batch whose columns differ, `discard_columns` drops its new columns first."""
    changes: list[SchemaChange] = []
    deleted = 0
    if existing is not None:
        old = data_columns(existing)
        changes = differences(old, incoming)
        if spec.schema_policy == "freeze" and changes:
            listing = "; ".join(c.describe() for c in changes)
            raise SchemaPolicyError(f"schema_policy is freeze and the batch differs: {listing}")
        if spec.schema_policy == "discard_columns":
            changes = [
                SchemaChange(c.column, "discarded", None, c.new_type)
                for c in changes
                if c.change == "added"
            ]
        deleted = count_rows(con, spec.target)
        con.execute(f"DROP TABLE {spec.target}")
    inserted = count_rows(con, batch)
    con.execute(f"ALTER TABLE {batch} RENAME TO {quote(spec.target_table)}")
    # Discarded columns go once the batch is in place: DuckLake loses track of a table's columns
    # when one is dropped before the table is renamed in the same transaction.
    discarded = [c for c in changes if c.change == "discarded"]
    for change in discarded:
        con.execute(f"ALTER TABLE {spec.target} DROP COLUMN {quote(change.column)}")
    if discarded:
        _rehash(con, spec.target, data_columns(columns_of(con, spec.target)))
    return WriteOutcome(inserted=inserted, deleted=deleted, schema_changes=changes)


def append(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    as_stored: _AsStored,
    lineage: Lineage,
) -> WriteOutcome:
    """Every batch row is inserted."""
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{as_stored.hash} AS {quote(ROW_HASH)} FROM {batch}"
    )
    return WriteOutcome(inserted=count_rows(con, batch))


def _key_match(left: str, right: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in keys)


def _changed_rows(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    as_stored: _AsStored,
    current_only: bool,
) -> tuple[str, int, int]:
    """Collect the batch rows that are new or differ from their stored row.

    Returns (table of those rows, with their `_row_hash` and keys in the target's terms; new
    rows; changed rows). Unchanged rows are left out, so reloading the same data rewrites
    nothing. The batch row's hash (`as_stored.hash`, SQL over the batch) meets the stored
    `_row_hash` as narrow (key, hash) pairs, so memory holds no whole rows; full rows are fetched
    only for the changes.
    A stored row without a hash counts as changed. A changed row is missed only if its 64-bit hash
    collides with the old one's. The (row id, hash) pairs that differ are collected first, so an
    unchanged batch never has its whole rows read.
    """
    differ, changed = _beside(batch, "differ"), _beside(batch, "changed")
    current = " WHERE _valid_to IS NULL" if current_only else ""
    keys = column_list(spec.primary_key)
    found = f"t.{quote(spec.primary_key[0])} IS NOT NULL"
    _create_table(
        con,
        differ,
        f"WITH stored AS (SELECT {keys}, {as_stored.stored_hash} AS __hash "
        f"FROM {spec.target}{current}), "
        f"incoming AS (SELECT rowid AS __row, {as_stored.key_select()}, "
        f"{as_stored.hash} AS __hash FROM {batch}) "
        f"SELECT i.__row, i.__hash, {found} AS __exists FROM incoming i "
        f"LEFT JOIN stored t ON {_key_match('t', 'i', spec.primary_key)} "
        f"WHERE t.__hash IS DISTINCT FROM i.__hash",
    )
    row = con.execute(
        "SELECT count(*) FILTER (WHERE NOT __exists), count(*) FILTER (WHERE __exists) "
        f"FROM {differ}"
    ).fetchone()
    assert row is not None
    none = "" if row[0] or row[1] else " LIMIT 0"
    rows = (
        f"SELECT b.* REPLACE (d.__hash AS {quote(ROW_HASH)}{as_stored.key_casts()}), d.__exists "
        f"FROM {batch} b JOIN {differ} d ON b.rowid = d.__row{none}"
    )
    if as_stored.absent:
        # The batch does not carry these columns: each changed row keeps its stored values
        # (NULL for a new row), and its `_row_hash` is taken over the whole row so filled.
        kept = ", ".join(f"t.{quote(name)}" for name in as_stored.absent)
        rows = (
            f"SELECT c.* REPLACE ({as_stored.full_hash} AS {quote(ROW_HASH)}) FROM "
            f"(SELECT c.*, {kept} FROM ({rows}) c LEFT JOIN "
            f"(SELECT {keys}, {column_list(as_stored.absent)} FROM {spec.target}{current}) t "
            f"ON {_key_match('t', 'c', spec.primary_key)}) c"
        )
    _create_table(con, changed, rows)
    con.execute(f"DROP TABLE {differ}")
    return changed, int(row[0]), int(row[1])


def merge(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    as_stored: _AsStored,
    lineage: Lineage,
) -> WriteOutcome:
    """New keys are inserted, changed rows replace their stored row, unchanged ones are left."""
    changed, inserted, updated = _changed_rows(con, spec, batch, as_stored, current_only=False)
    if updated:
        con.execute(
            f"DELETE FROM {spec.target} t USING {changed} c "
            f"WHERE c.__exists AND {_key_match('t', 'c', spec.primary_key)}"
        )
    if inserted or updated:
        con.execute(
            f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
            f"{quote(ROW_HASH)} FROM {changed}"
        )
    con.execute(f"DROP TABLE {changed}")
    return WriteOutcome(inserted=inserted, updated=updated)


def scd2(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    as_stored: _AsStored,
    lineage: Lineage,
) -> WriteOutcome:
    """History: a changed row closes its current version and opens a new one; a key absent from
    the batch (a full snapshot) has its current version closed."""
    changed, inserted, updated = _changed_rows(con, spec, batch, as_stored, current_only=True)
    keys = column_list(spec.primary_key)
    batch_keys = ", ".join(as_stored.keys.values())
    closed = con.execute(
        f"UPDATE {spec.target} t SET _valid_to = {lineage.at} "
        f"WHERE t._valid_to IS NULL AND (({keys}) IN (SELECT ({keys}) FROM {changed} "
        f"WHERE __exists) OR ({keys}) NOT IN (SELECT ({batch_keys}) FROM {batch}))"
    ).fetchone()
    closed_count = int(closed[0]) if closed else 0
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{lineage.at} AS _valid_from, NULL::TIMESTAMPTZ AS _valid_to, "
        f"{quote(ROW_HASH)} FROM {changed}"
    )
    con.execute(f"DROP TABLE {changed}")
    return WriteOutcome(inserted=inserted, updated=updated, deleted=closed_count - updated)


Disposition = Callable[
    [duckdb.DuckDBPyConnection, WriteSpec, str, list[str], _AsStored, Lineage], WriteOutcome
]
INTO_EXISTING: dict[str, Disposition] = {"append": append, "merge": merge, "scd2": scd2}
"""How a batch lands in an existing target fitted by `fit_target`, by `WriteSpec.write`."""


def _root_id(keys: Sequence[str]) -> str:
    """SQL for a row's key as its child rows' root key holds it: the key's text, several key
    columns joined by `|`."""
    if len(keys) == 1:
        return f"{quote(keys[0])}::VARCHAR"
    return "concat_ws('|', " + ", ".join(f"{quote(k)}::VARCHAR" for k in keys) + ")"


def parent_keys(
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


def stale_children(
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
    if not table_exists(con, spec):
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


def replaced_rows(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, files: FilePlan, load_id: str
) -> str | None:
    """Before the write, the DELETE to run after it for the rows that earlier versions of the
    files read again landed: under append all of them; under merge those whose key the new
    batch no longer holds (the merge updates the rest), found while the batch still exists.
    (DuckDB refuses to alter a table a transaction has already deleted from, and the write may
    alter the target.) None when there are none."""
    if not files.replaced or spec.write not in ("append", "merge") or spec.full_refresh:
        return None
    if not table_exists(con, spec) or SOURCE_FILE not in columns_of(con, spec.target):
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


def run_delete(con: duckdb.DuckDBPyConnection, delete: str | None) -> int:
    """Run a DELETE made by `stale_children` or `replaced_rows`; returns how many rows went."""
    if delete is None:
        return 0
    deleted = con.execute(delete).fetchone()
    return int(deleted[0]) if deleted else 0


def table_exists(con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> bool:
    """Whether the target table exists."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [spec.target_schema, spec.target_table],
    ).fetchone()
    return bool(found and found[0])
