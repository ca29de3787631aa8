"""The four ways a staged batch lands in its table, each run inside the load's transaction.

`batch` below is SQL naming the staged rows (an attached staging table); `target` is the quoted
`schema.table`. Lineage columns are added here, so every row says which load brought it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

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

SCD2_COLUMNS = ("_valid_from", "_valid_to")
RESERVED_COLUMNS = frozenset(LINEAGE_COLUMNS + SCD2_COLUMNS)


class BatchError(Exception):
    """The batch cannot be written as configured (null or missing keys, a frozen schema...)."""


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

    def select_sql(self) -> str:
        return (
            f"{literal(self.load_id)}::VARCHAR AS _load_id, "
            f"{literal(self.loaded_at.isoformat())}::TIMESTAMPTZ AS _loaded_at, "
            f"{literal(self.source)}::VARCHAR AS _source"
        )


@dataclass
class WriteOutcome:
    rows_in: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    schema_changes: list[SchemaChange] = field(default_factory=list)


def write_batch(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, lineage: Lineage
) -> WriteOutcome:
    incoming = columns_of(con, batch)
    clashes = sorted(RESERVED_COLUMNS & incoming.keys())
    if clashes:
        raise BatchError(f"the batch has columns reserved for the platform: {', '.join(clashes)}")
    rows_in = _count(con, batch)
    if rows_in == 0 and not spec.allow_empty:
        raise BatchError(
            "the batch is empty; refusing to write it so the table keeps its rows "
            "(set allow_empty: true on the table if empty batches are expected)"
        )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(spec.target_schema)}")
    existing = _existing_columns(con, spec)
    if rows_in == 0:
        return _empty(con, spec, existing)
    if spec.write in ("merge", "scd2"):
        batch = _deduplicated(con, spec, batch, incoming)
    if spec.write == "replace":
        outcome = _replace(con, spec, batch, incoming, existing, lineage)
    elif existing is None:
        outcome = _create(con, spec, batch, incoming, lineage)
    else:
        columns, changes = reconcile(
            con, spec.target, _data_columns(existing), incoming, spec.schema_policy
        )
        write = {"append": _append, "merge": _merge, "scd2": _scd2}[spec.write]
        outcome = write(con, spec, batch, columns, lineage)
        outcome.schema_changes = changes
    outcome.rows_in = rows_in
    return outcome


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


def _deduplicated(
    con: duckdb.DuckDBPyConnection, spec: WriteSpec, batch: str, incoming: dict[str, str]
) -> str:
    """The batch with one row per key: the latest by `order_by`, then by arrival order."""
    missing = [k for k in spec.primary_key if k not in incoming]
    if missing:
        raise BatchError(f"primary_key column(s) missing from the batch: {', '.join(missing)}")
    keys = column_list(spec.primary_key)
    any_null = " OR ".join(f"{quote(k)} IS NULL" for k in spec.primary_key)
    row = con.execute(
        f"SELECT count(*), count(DISTINCT ({keys})), count(*) FILTER (WHERE {any_null}) "
        f"FROM {batch}"
    ).fetchone()
    assert row is not None
    total, distinct, nulls = row
    if nulls:
        raise BatchError(f"{nulls} row(s) have a null primary_key ({', '.join(spec.primary_key)})")
    if total == distinct:
        return batch
    order = f"{quote(spec.order_by)} DESC NULLS LAST, " if spec.order_by else ""
    con.execute(
        f"CREATE TEMP TABLE __latest AS SELECT * FROM {batch} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}rowid DESC) = 1"
    )
    return "temp.main.__latest"


def _create(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    lineage: Lineage,
) -> WriteOutcome:
    validity = ""
    if spec.write == "scd2":
        validity = (
            f"{literal(lineage.loaded_at.isoformat())}::TIMESTAMPTZ AS _valid_from, "
            "NULL::TIMESTAMPTZ AS _valid_to, "
        )
    con.execute(
        f"CREATE TABLE {spec.target} AS SELECT {column_list(incoming)}, {validity}"
        f"{lineage.select_sql()} FROM {batch}"
    )
    return WriteOutcome(inserted=_count(con, batch))


def _replace(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    incoming: dict[str, str],
    existing: dict[str, str] | None,
    lineage: Lineage,
) -> WriteOutcome:
    changes: list[SchemaChange] = []
    deleted = 0
    columns = list(incoming)
    if existing is not None:
        old = _data_columns(existing)
        changes = differences(old, incoming)
        if spec.schema_policy == "freeze" and changes:
            listing = "; ".join(c.describe() for c in changes)
            raise SchemaPolicyError(f"schema_policy is freeze and the batch differs: {listing}")
        if spec.schema_policy == "discard_columns":
            columns = [c for c in incoming if c in old]
            changes = [
                SchemaChange(c.column, "discarded", None, c.new_type)
                for c in changes
                if c.change == "added"
            ]
        deleted = _count(con, spec.target)
    con.execute(
        f"CREATE OR REPLACE TABLE {spec.target} AS SELECT {column_list(columns)}, "
        f"{lineage.select_sql()} FROM {batch}"
    )
    return WriteOutcome(inserted=_count(con, spec.target), deleted=deleted, schema_changes=changes)


def _append(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    lineage: Lineage,
) -> WriteOutcome:
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{lineage.select_sql()} FROM {batch}"
    )
    return WriteOutcome(inserted=_count(con, batch))


def _key_match(left: str, right: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in keys)


def _same_values(left: str, right: str, columns: Sequence[str]) -> str:
    return " AND ".join(
        f"{left}.{quote(c)} IS NOT DISTINCT FROM {right}.{quote(c)}" for c in columns
    )


def _changed_rows(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    current_only: bool,
) -> tuple[int, int]:
    """Stage into `__changed` the batch rows that are new or differ from their stored row.

    Returns (new rows, changed rows). Unchanged rows are left alone, so reloading the same data
    rewrites nothing.
    """
    current = " AND t._valid_to IS NULL" if current_only else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __changed AS "
        f"SELECT b.*, t.{quote(spec.primary_key[0])} IS NOT NULL AS __exists "
        f"FROM (SELECT {column_list(columns)} FROM {batch}) b "
        f"LEFT JOIN {spec.target} t ON {_key_match('t', 'b', spec.primary_key)}{current} "
        f"WHERE t.{quote(spec.primary_key[0])} IS NULL "
        f"OR NOT ({_same_values('t', 'b', columns)})"
    )
    row = con.execute(
        "SELECT count(*) FILTER (WHERE NOT __exists), count(*) FILTER (WHERE __exists) "
        "FROM temp.main.__changed"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _merge(
    con: duckdb.DuckDBPyConnection,
    spec: WriteSpec,
    batch: str,
    columns: list[str],
    lineage: Lineage,
) -> WriteOutcome:
    inserted, updated = _changed_rows(con, spec, batch, columns, current_only=False)
    if updated:
        con.execute(
            f"DELETE FROM {spec.target} t USING temp.main.__changed c "
            f"WHERE c.__exists AND {_key_match('t', 'c', spec.primary_key)}"
        )
    if inserted or updated:
        con.execute(
            f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
            f"{lineage.select_sql()} FROM temp.main.__changed"
        )
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
    at = f"{literal(lineage.loaded_at.isoformat())}::TIMESTAMPTZ"
    inserted, updated = _changed_rows(con, spec, batch, columns, current_only=True)
    keys = column_list(spec.primary_key)
    closed = con.execute(
        f"UPDATE {spec.target} t SET _valid_to = {at} "
        f"WHERE t._valid_to IS NULL AND (({keys}) IN (SELECT ({keys}) FROM temp.main.__changed "
        f"WHERE __exists) OR ({keys}) NOT IN (SELECT ({keys}) FROM {batch}))"
    ).fetchone()
    closed_count = int(closed[0]) if closed else 0
    con.execute(
        f"INSERT INTO {spec.target} BY NAME SELECT {column_list(columns)}, "
        f"{at} AS _valid_from, NULL::TIMESTAMPTZ AS _valid_to, {lineage.select_sql()} "
        f"FROM temp.main.__changed"
    )
    return WriteOutcome(inserted=inserted, updated=updated, deleted=closed_count - updated)
