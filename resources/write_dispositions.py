"""The four ways a batch lands in its table, each run inside the load's transaction.

The batch arrives as a table written once with its lineage columns (`_load_id`, `_loaded_at`,
`_source`) and `_row_hash` (see `row_hash`) already in place. A replace, or any first load, renames
it into place, so its rows are written to the warehouse exactly once; that batch is a table beside
the target. Into an existing table the other dispositions insert from the batch and drop it; that
batch is a temporary table, which never reaches the warehouse file, so only the rows that land are
written there. Merge and scd2 compare row hashes with the stored ones, so an unchanged row is
neither read whole nor rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from resources.duckdb_sql import column_list, literal, qualified, quote
from resources.naming import respelled_columns
from resources.schema_evolution import (
    SchemaChange,
    SchemaPolicyError,
    columns_of,
    differences,
    reconcile,
)
from resources.uniqueness import KeyCounts, key_counts
from resources.warehouse_schema import LINEAGE_COLUMNS, ROW_HASH, SOURCE_FILE

if TYPE_CHECKING:
    from checks.gate import Verdict

SCD2_COLUMNS = ("_valid_from", "_valid_to")
RESERVED_COLUMNS = frozenset((*LINEAGE_COLUMNS, ROW_HASH, *SCD2_COLUMNS))
"""Columns the writer adds; a batch that brings one of its own is refused."""
NOT_DATA_COLUMNS = RESERVED_COLUMNS | {SOURCE_FILE}
"""Columns outside a row's data: neither hashed nor reconciled under `schema_policy`."""


class BatchError(Exception):
    """The batch cannot be written as configured (null or missing keys, an empty batch...)."""


@dataclass(frozen=True)
class WriteSpec:
    target_schema: str
    target_table: str
    write: str
    primary_key: Sequence[str] = ()
    order_by: str | None = None
    schema_policy: str = "evolve"
    allow_empty: bool = False

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
    schema_changes: list[SchemaChange] = field(default_factory=list)
    verdict: Verdict | None = None
    quarantined: int = 0


BATCH_PREFIX = "__batch_"
TEMPORARY = "temp.main."
"""Prefix of a temporary table's qualified name: it lives with the connection, not in the file."""


def _create_table(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    """`CREATE TABLE table AS select_sql`, temporary when `table` is named in `TEMPORARY`."""
    kind = "TEMP TABLE" if table.startswith(TEMPORARY) else "TABLE"
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
    existing = _existing_columns(con, spec)
    if existing is not None and (respelled := respelled_columns(existing, incoming)):
        raise BatchError(_respelled_message(spec, respelled))
    if existing is not None and (renames := _stored_spelling(incoming, existing)):
        pairs = ", ".join(f"{quote(old)} AS {quote(new)}" for old, new in renames.items())
        rows_sql = f"SELECT * RENAME ({pairs}) FROM ({rows_sql})"
        incoming = {renames.get(name, name): kind for name, kind in incoming.items()}
    lands_by_rename = spec.write == "replace" or existing is None
    schema = quote(spec.target_schema) + "." if lands_by_rename else TEMPORARY
    batch = schema + quote(BATCH_PREFIX + lineage.load_id)
    validity = (
        f", {lineage.at} AS _valid_from, NULL::TIMESTAMPTZ AS _valid_to"
        if spec.write == "scd2"
        else ""
    )
    _create_table(
        con,
        batch,
        f"SELECT *, {lineage.select_sql()}, {row_hash(_own_values(_data_columns(incoming)))} "
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
    """The row's `_row_hash`: its own when the columns agree."""
    keys: dict[str, str]
    """Each primary key column's value, cast to the stored type. Compared in the batch's own
    type, DuckDB would cast the stored side instead, and fail on a VARCHAR key widened from
    numbers once a batch brings numbers again."""

    @classmethod
    def of(cls, stored: dict[str, str], batch: dict[str, str], keys: Sequence[str]) -> _AsStored:
        values = _values_as_stored(stored, batch)
        row = quote(ROW_HASH) if stored == batch else row_hash(values)
        return cls(row, {k: values.get(k, quote(k)) for k in keys})

    def key_select(self) -> str:
        return ", ".join(f"{value} AS {quote(key)}" for key, value in self.keys.items())

    def key_casts(self) -> str:
        """`, <key> AS <key>` for every key whose stored type differs, for a `REPLACE`."""
        return "".join(
            f", {value} AS {quote(key)}" for key, value in self.keys.items() if value != quote(key)
        )


def write_batch(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    lineage: Lineage,
    counted: Mapping[tuple[str, ...], KeyCounts] | None = None,
) -> WriteOutcome:
    """Land the batch table made by `create_batch` in the target as `spec.write` says.

    `counted` holds key counts already taken on this batch as it is now (by the quality gate),
    so a merge does not count its primary key twice."""
    incoming = _data_columns(columns_of(con, batch))
    rows_in = _count(con, batch)
    existing = _existing_columns(con, spec)
    if rows_in == 0 and existing is None and spec.allow_empty:
        outcome = _rename_into_place(con, spec, batch, 0)  # the table, with the batch's columns
    elif rows_in == 0:
        con.execute(f"DROP TABLE {batch}")
        outcome = write_nothing(con, spec)
    elif spec.write == "replace":
        outcome = _replace(con, spec, batch, incoming, existing)
    else:
        if spec.write in ("merge", "scd2"):
            batch = _deduplicated(con, spec, batch, incoming, counted or {})
        if existing is None:
            outcome = _rename_into_place(con, spec, batch, rows_in)
        else:
            outcome = _write_into(con, spec, batch, incoming, existing, lineage)
    outcome.rows_in = rows_in
    return outcome


def write_nothing(con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> WriteOutcome:
    """Nothing arrived at all (no rows, no columns): refused unless `allow_empty`."""
    if not spec.allow_empty:
        raise BatchError(
            "the batch is empty; refusing to write it so the table keeps its rows "
            "(set allow_empty: true on the table if empty batches are expected)"
        )
    return _empty(con, spec, _existing_columns(con, spec))


def _beside(batch: str, suffix: str) -> str:
    """A scratch table next to the batch table (`"s"."__batch_x"` → `"s"."__batch_x_<suffix>"`),
    temporary when the batch is."""
    return f'{batch.removesuffix(chr(34))}_{suffix}"'


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(row[0]) if row else 0


def _existing_columns(con: duckdb.DuckDBPyConnection, spec: WriteSpec) -> dict[str, str] | None:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [spec.target_schema, spec.target_table],
    ).fetchone()
    return columns_of(con, spec.target) if found and found[0] else None


def _data_columns(columns: dict[str, str]) -> dict[str, str]:
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


def _write_into(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    existing: dict[str, str],
    lineage: Lineage,
) -> WriteOutcome:
    """Append, merge or scd2 into an existing target, once its columns hold the batch."""
    if ROW_HASH not in existing:
        con.execute(f"ALTER TABLE {spec.target} ADD COLUMN {quote(ROW_HASH)} UBIGINT")
    columns, changes = reconcile(
        con, spec.target, _data_columns(existing), incoming, spec.schema_policy, batch
    )
    stored = _data_columns(columns_of(con, spec.target))
    if spec.write != "append" and any(c.change in ("added", "widened") for c in changes):
        _rehash(con, spec.target, stored)
    copied = [*columns, *_lineage_columns(con, spec, batch, existing)]
    write = {"append": _append, "merge": _merge, "scd2": _scd2}[spec.write]
    as_stored = _AsStored.of(stored, incoming, spec.primary_key)
    outcome = write(con, spec, batch, copied, as_stored, lineage)
    outcome.schema_changes = changes
    con.execute(f"DROP TABLE {batch}")
    return outcome


def _rehash(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    """Recompute every row's `_row_hash` after the table's data columns changed (a new column or
    a wider type changes the hash), so merges go on telling unchanged rows apart."""
    con.execute(
        f"ALTER TABLE {table} ALTER COLUMN {quote(ROW_HASH)} TYPE UBIGINT "
        f"USING {row_hash(_own_values(columns))}"
    )


def _empty(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, existing: dict[str, str] | None
) -> WriteOutcome:
    """An allowed empty batch: a replace empties the table (keeping its columns); others add
    nothing."""
    if spec.write != "replace" or existing is None:
        return WriteOutcome()
    deleted = _count(con, spec.target)
    con.execute(f"DELETE FROM {spec.target}")
    return WriteOutcome(deleted=deleted)


def _deduplicated(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    counted: Mapping[tuple[str, ...], KeyCounts],
) -> str:
    """The batch with one row per key: the latest by `order_by`, then by arrival order."""
    present = {name.lower() for name in incoming}
    missing = [k for k in spec.primary_key if k.lower() not in present]
    if missing:
        raise BatchError(f"primary_key column(s) missing from the batch: {', '.join(missing)}")
    keys = column_list(spec.primary_key)
    counts = counted.get(tuple(spec.primary_key)) or key_counts(con, batch, spec.primary_key)
    if counts.null_keys:
        raise BatchError(
            f"{counts.null_keys} row(s) have a null primary_key ({', '.join(spec.primary_key)})"
        )
    if not counts.repeats:
        return batch
    order = f"{quote(spec.order_by)} DESC NULLS LAST, " if spec.order_by else ""
    latest = _beside(batch, "latest")
    _create_table(
        con,
        latest,
        f"SELECT * FROM {batch} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}rowid DESC) = 1",
    )
    con.execute(f"DROP TABLE {batch}")
    return latest


def _rename_into_place(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, rows: int
) -> WriteOutcome:
    """A first load: the batch table becomes the target."""
    con.execute(f"ALTER TABLE {batch} RENAME TO {quote(spec.target_table)}")
    return WriteOutcome(inserted=rows)


def _replace(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    existing: dict[str, str] | None,
) -> WriteOutcome:
    changes: list[SchemaChange] = []
    deleted = 0
    if existing is not None:
        old = _data_columns(existing)
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
            for change in changes:
                con.execute(f"ALTER TABLE {batch} DROP COLUMN {quote(change.column)}")
            if changes:
                _rehash(con, batch, _data_columns(columns_of(con, batch)))
        deleted = _count(con, spec.target)
        con.execute(f"DROP TABLE {spec.target}")
    inserted = _count(con, batch)
    con.execute(f"ALTER TABLE {batch} RENAME TO {quote(spec.target_table)}")
    return WriteOutcome(inserted=inserted, deleted=deleted, schema_changes=changes)


def _append(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    as_stored: _AsStored,
    lineage: Lineage,
) -> WriteOutcome:
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{as_stored.hash} AS {quote(ROW_HASH)} FROM {batch}"
    )
    return WriteOutcome(inserted=_count(con, batch))


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
        f"WITH stored AS (SELECT {keys}, {quote(ROW_HASH)} AS __hash FROM {spec.target}{current}), "
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
    _create_table(
        con,
        changed,
        f"SELECT b.* REPLACE (d.__hash AS {quote(ROW_HASH)}{as_stored.key_casts()}), d.__exists "
        f"FROM {batch} b JOIN {differ} d ON b.rowid = d.__row{none}",
    )
    con.execute(f"DROP TABLE {differ}")
    return changed, int(row[0]), int(row[1])


def _merge(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    as_stored: _AsStored,
    lineage: Lineage,
) -> WriteOutcome:
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


def _scd2(
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
