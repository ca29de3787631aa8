"""The four ways a batch lands in its table, each run inside the load's transaction.

The batch arrives as a table in the target's schema, written once by the transaction with its
lineage columns (`_load_id`, `_loaded_at`, `_source`) already in place. A replace, or any first
load, renames it into place, so the rows are written exactly once; the other dispositions insert
from it and drop it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from resources.duckdb_sql import column_list, literal, quote
from resources.schema_evolution import (
    SchemaChange,
    SchemaPolicyError,
    columns_of,
    differences,
    reconcile,
)
from resources.warehouse_schema import LINEAGE_COLUMNS

if TYPE_CHECKING:
    from checks.gate import Verdict

SCD2_COLUMNS = ("_valid_from", "_valid_to")
RESERVED_COLUMNS = frozenset(LINEAGE_COLUMNS + SCD2_COLUMNS)


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
        return (
            f"{literal(self.load_id)}::VARCHAR AS _load_id, {self.at} AS _loaded_at, "
            f"{literal(self.source)}::VARCHAR AS _source"
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


def create_batch(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, rows_sql: str, lineage: Lineage
) -> str:
    """Write the batch's rows (any SQL query) once, with lineage, into a table beside the target.

    Returns the quoted name of that table. It exists only inside the load's transaction.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(spec.target_schema)}")
    incoming = columns_of(con, f"({rows_sql})")
    clashes = sorted(RESERVED_COLUMNS & incoming.keys())
    if clashes:
        raise BatchError(f"the batch has columns reserved for the platform: {', '.join(clashes)}")
    batch = f"{quote(spec.target_schema)}.{quote('__batch_' + lineage.load_id)}"
    con.execute(f"CREATE TABLE {batch} AS SELECT *, {lineage.select_sql()} FROM ({rows_sql})")
    return batch


def write_batch(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, lineage: Lineage
) -> WriteOutcome:
    """Land the batch table made by `create_batch` in the target as `spec.write` says."""
    incoming = _data_columns(columns_of(con, batch))
    rows_in = _count(con, batch)
    existing = _existing_columns(con, spec)
    if rows_in == 0:
        con.execute(f"DROP TABLE {batch}")
        outcome = write_nothing(con, spec)
    elif spec.write == "replace":
        outcome = _replace(con, spec, batch, incoming, existing)
    else:
        if spec.write in ("merge", "scd2"):
            batch = _deduplicated(con, spec, batch, incoming)
        if existing is None:
            outcome = _rename_into_place(con, spec, batch, lineage, rows_in)
        else:
            columns, changes = reconcile(
                con, spec.target, _data_columns(existing), incoming, spec.schema_policy
            )
            write = {"append": _append, "merge": _merge, "scd2": _scd2}[spec.write]
            outcome = write(con, spec, batch, columns, lineage)
            outcome.schema_changes = changes
            con.execute(f"DROP TABLE {batch}")
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
    """A scratch table next to the batch table (`"s"."__batch_x"` → `"s"."__batch_x_<suffix>"`)."""
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
    return {k: v for k, v in columns.items() if k not in RESERVED_COLUMNS}


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
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, incoming: dict[str, str]
) -> str:
    """The batch with one row per key: the latest by `order_by`, then by arrival order."""
    missing = [k for k in spec.primary_key if k not in incoming]
    if missing:
        raise BatchError(f"primary_key column(s) missing from the batch: {', '.join(missing)}")
    keys = column_list(spec.primary_key)
    any_null = " OR ".join(f"{quote(k)} IS NULL" for k in spec.primary_key)
    distinct = f"({keys})" if len(spec.primary_key) > 1 else keys
    row = con.execute(
        f"SELECT count(*), count(DISTINCT {distinct}), count(*) FILTER (WHERE {any_null}) "
        f"FROM {batch}"
    ).fetchone()
    assert row is not None
    total, unique, nulls = row
    if nulls:
        raise BatchError(f"{nulls} row(s) have a null primary_key ({', '.join(spec.primary_key)})")
    if total == unique:
        return batch
    order = f"{quote(spec.order_by)} DESC NULLS LAST, " if spec.order_by else ""
    latest = _beside(batch, "latest")
    con.execute(
        f"CREATE TABLE {latest} AS SELECT * FROM {batch} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}rowid DESC) = 1"
    )
    con.execute(f"DROP TABLE {batch}")
    return latest


def _rename_into_place(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, lineage: Lineage, rows: int
) -> WriteOutcome:
    """A first load: the batch table becomes the target (scd2 gets its validity columns)."""
    if spec.write == "scd2":
        con.execute(f"ALTER TABLE {batch} ADD COLUMN _valid_from TIMESTAMPTZ DEFAULT {lineage.at}")
        con.execute(f"ALTER TABLE {batch} ALTER COLUMN _valid_from DROP DEFAULT")
        con.execute(f"ALTER TABLE {batch} ADD COLUMN _valid_to TIMESTAMPTZ")
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
    lineage: Lineage,
) -> WriteOutcome:
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{column_list(LINEAGE_COLUMNS)} FROM {batch}"
    )
    return WriteOutcome(inserted=_count(con, batch))


def _key_match(left: str, right: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in keys)


def _row_hash(alias: str, columns: Sequence[str], types: dict[str, str]) -> str:
    """One 64-bit hash of a row's values, each cast to the stored table's type."""
    values = ", ".join(
        f"{alias}.{quote(c)}::{types[c]}" if c in types else f"{alias}.{quote(c)}" for c in columns
    )
    return f"hash({values})"


def _changed_rows(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    current_only: bool,
) -> tuple[str, int, int]:
    """Collect the batch rows that are new or differ from their stored row.

    Returns (table of those rows, new rows, changed rows). Unchanged rows are left out, so
    reloading the same data rewrites nothing. Rows are compared by one hash of their values and
    joined as narrow (key, hash) pairs, so memory holds no whole rows; full rows are fetched only
    for the changes. A changed row is missed only if its 64-bit hash collides with the old one's.
    """
    changed = _beside(batch, "changed")
    types = columns_of(con, spec.target)
    current = " WHERE _valid_to IS NULL" if current_only else ""
    keys = column_list(spec.primary_key)
    row_hash = _row_hash("s", columns, types)
    con.execute(
        f"CREATE TABLE {changed} AS "
        f"WITH stored AS (SELECT {keys}, {row_hash} AS __hash FROM {spec.target} s{current}), "
        f"incoming AS (SELECT s.rowid AS __row, {keys}, {row_hash} AS __hash FROM {batch} s), "
        f"differ AS (SELECT i.__row, t.__hash IS NOT NULL AS __exists FROM incoming i "
        f"LEFT JOIN stored t ON {_key_match('t', 'i', spec.primary_key)} "
        f"WHERE t.__hash IS NULL OR t.__hash <> i.__hash) "
        f"SELECT b.*, d.__exists FROM {batch} b JOIN differ d ON b.rowid = d.__row"
    )
    row = con.execute(
        "SELECT count(*) FILTER (WHERE NOT __exists), count(*) FILTER (WHERE __exists) "
        f"FROM {changed}"
    ).fetchone()
    assert row is not None
    return changed, int(row[0]), int(row[1])


def _merge(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    lineage: Lineage,
) -> WriteOutcome:
    changed, inserted, updated = _changed_rows(con, spec, batch, columns, current_only=False)
    if updated:
        con.execute(
            f"DELETE FROM {spec.target} t USING {changed} c "
            f"WHERE c.__exists AND {_key_match('t', 'c', spec.primary_key)}"
        )
    if inserted or updated:
        con.execute(
            f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
            f"{column_list(LINEAGE_COLUMNS)} FROM {changed}"
        )
    con.execute(f"DROP TABLE {changed}")
    return WriteOutcome(inserted=inserted, updated=updated)


def _scd2(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    lineage: Lineage,
) -> WriteOutcome:
    """History: a changed row closes its current version and opens a new one; a key absent from
    the batch (a full snapshot) has its current version closed."""
    changed, inserted, updated = _changed_rows(con, spec, batch, columns, current_only=True)
    keys = column_list(spec.primary_key)
    closed = con.execute(
        f"UPDATE {spec.target} t SET _valid_to = {lineage.at} "
        f"WHERE t._valid_to IS NULL AND (({keys}) IN (SELECT ({keys}) FROM {changed} "
        f"WHERE __exists) OR ({keys}) NOT IN (SELECT ({keys}) FROM {batch}))"
    ).fetchone()
    closed_count = int(closed[0]) if closed else 0
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{lineage.at} AS _valid_from, NULL::TIMESTAMPTZ AS _valid_to, "
        f"{column_list(LINEAGE_COLUMNS)} FROM {changed}"
    )
    con.execute(f"DROP TABLE {changed}")
    return WriteOutcome(inserted=inserted, updated=updated, deleted=closed_count - updated)
