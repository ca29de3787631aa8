"""Reconcile a batch's columns with the table it lands in, under the table's `schema_policy`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import duckdb

from resources.duckdb_sql import quote
from resources.ducklake import is_ducklake
from resources.errors import TributaryError
from resources.type_lattice import VARCHAR, join, survives_sql, value_join

ChangeKind = Literal["added", "widened", "discarded", "removed", "fits"]


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: ChangeKind
    old_type: str | None
    new_type: str | None
    incoming_type: str | None = None
    """The batch's own type of the column, where it differs from `new_type`."""

    def describe(self) -> str:
        if self.change in ("added", "discarded"):
            return f"{self.column}: new column ({self.new_type})"
        if self.change == "removed":
            return f"{self.column}: column missing from the batch (was {self.old_type})"
        brings = (
            f" (the batch brings {self.incoming_type})"
            if self.incoming_type not in (None, self.new_type)
            else ""
        )
        return f"{self.column}: type {self.old_type} -> {self.new_type}{brings}"


class SchemaPolicyError(TributaryError):
    """A `freeze` table received a batch whose columns differ from the table's."""


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name → DuckDB type of a table or view (`relation` is already-quoted SQL)."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(name): str(type_) for name, type_, *_ in rows}


def joined_type(
    con: duckdb.DuckDBPyConnection,
    column: str,
    old: tuple[str, str],
    new: tuple[str, str],
) -> str:
    """The type a column must have to hold its values of type `old[0]` in relation `old[1]` and
    of type `new[0]` in relation `new[1]` (relations are quoted SQL), by the type lattice.

    Where only VARCHAR holds both by type, the lattice's narrower candidate is taken when every
    value on both sides survives the cast to it (BIGINT join DOUBLE is DOUBLE for integers within
    ±2^53); otherwise VARCHAR, which holds each value as its exact text.
    """
    by_type = join(old[0], new[0])
    candidate = value_join(old[0], new[0])
    if by_type != VARCHAR or candidate is None:
        return by_type
    for kind, relation in (old, new):
        check = survives_sql(quote(column), kind, candidate)
        found = con.execute(f"SELECT bool_and({check}) FROM {relation}").fetchone()
        if found is None or found[0] is False:
            return VARCHAR
    return candidate


def differences(
    existing: dict[str, str],
    incoming: dict[str, str],
    joined: Callable[[str, str, str], str] | None = None,
) -> list[SchemaChange]:
    """How `incoming` differs from `existing`, column by column, in incoming order.

    `joined(column, old_type, new_type)` gives the type that holds both (the type lattice's
    `join` when None: by type alone).
    """
    changes = []
    for name, new_type in incoming.items():
        old_type = existing.get(name)
        if old_type is None:
            changes.append(SchemaChange(name, "added", None, new_type))
        elif old_type != new_type:
            widened = joined(name, old_type, new_type) if joined else join(old_type, new_type)
            kind: ChangeKind = "widened" if widened != old_type else "fits"
            changes.append(SchemaChange(name, kind, old_type, widened, new_type))
    changes.extend(
        SchemaChange(name, "removed", old_type, None)
        for name, old_type in existing.items()
        if name not in incoming
    )
    return changes


def reconcile(
    con: duckdb.DuckDBPyConnection,
    target: str,
    existing: dict[str, str],
    incoming: dict[str, str],
    policy: str,
    batch: str | None = None,
) -> tuple[list[str], list[SchemaChange]]:
    """Bring `target` (an existing table) to a shape that holds the batch.

    Returns the batch columns to insert and the changes made. `evolve` adds new columns and widens
    types along the type lattice (a type the stored one holds is cast up on insert and changes
    nothing); `discard_columns` drops unknown columns from the batch; `freeze` refuses any
    difference, naming each column with its stored and incoming type. Given the `batch` table
    (quoted SQL), a join that needs the values' evidence (BIGINT join DOUBLE) looks at both sides'
    values; without it, the join is by type alone.
    """

    def joined(column: str, old_type: str, new_type: str) -> str:
        if batch is None:
            return join(old_type, new_type)
        return joined_type(con, column, (old_type, target), (new_type, batch))

    changes = [c for c in differences(existing, incoming, joined) if c.change != "fits"]
    if policy == "freeze":
        if changes:
            listing = "; ".join(c.describe() for c in changes)
            raise SchemaPolicyError(f"schema_policy is freeze and the batch differs: {listing}")
        return list(incoming), []
    if policy == "discard_columns":
        kept = [name for name in incoming if name in existing]
        discarded = [
            SchemaChange(c.column, "discarded", None, c.new_type)
            for c in changes
            if c.change == "added"
        ]
        for change in changes:
            if change.change == "widened":
                _alter(con, target, change)
        return kept, discarded + [c for c in changes if c.change == "widened"]
    for change in changes:
        if change.change == "added":
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(change.column)} {change.new_type}")
        elif change.change == "widened":
            _alter(con, target, change)
    return list(incoming), [c for c in changes if c.change != "removed"]


_NUMERIC = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL)\b", re.I)


def _alter(con: duckdb.DuckDBPyConnection, target: str, change: SchemaChange) -> None:
    """Widen a stored column. A DuckLake retypes a column in place only from number to number;
    any other widening (to VARCHAR, say) is a new column filled from the old one, which moves
    the column to the end of the table."""
    column, new_type = quote(change.column), change.new_type
    numeric = all(_NUMERIC.match(kind or "") for kind in (change.old_type, new_type))
    if numeric or not is_ducklake(con):
        con.execute(f"ALTER TABLE {target} ALTER COLUMN {column} TYPE {new_type}")
        return
    widened = quote(f"__widened_{change.column}")
    con.execute(f"ALTER TABLE {target} ADD COLUMN {widened} {new_type}")
    con.execute(f"UPDATE {target} SET {widened} = {column}::{new_type}")
    con.execute(f"ALTER TABLE {target} DROP COLUMN {column}")
    con.execute(f"ALTER TABLE {target} RENAME COLUMN {widened} TO {column}")


def stored_columns(
    con: duckdb.DuckDBPyConnection, schema: str, table: str
) -> dict[str, str] | None:
    """Column name → type of the stored table `schema.table`, or None if there is none."""
    found = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return {str(name): str(kind) for name, kind in found} or None


def with_null_columns(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    rows_sql: str,
    null_only: Iterable[str],
) -> str:
    """`rows_sql` with its columns that hold only nulls (`null_only`) as null in their stored
    column's type, and left out where no such column is stored.

    Nulls carry no evidence of a type: they neither create a column nor change one (so they are
    no schema change under `freeze`), yet a merge still sets the stored value to the null the
    source sent. If every column of the batch is null-only and none is stored, they stay (a row
    needs a column).
    """
    stored = {
        name.lower(): kind for name, kind in (stored_columns(con, schema, table) or {}).items()
    }
    names = list(null_only)
    typed = {n: stored[n.lower()] for n in names if n.lower() in stored}
    dropped = [n for n in names if n.lower() not in stored]
    batch = columns_of(con, f"({rows_sql})")
    if dropped and len(dropped) == len(batch):
        dropped = []
    parts = []
    if dropped:
        parts.append(f"EXCLUDE ({', '.join(quote(n) for n in dropped)})")
    if typed:
        casts = ", ".join(f"NULL::{kind} AS {quote(n)}" for n, kind in typed.items())
        parts.append(f"REPLACE ({casts})")
    if not parts:
        return rows_sql
    return f"SELECT * {' '.join(parts)} FROM ({rows_sql})"
