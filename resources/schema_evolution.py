"""Reconcile a batch's columns with the table it lands in, under the table's `schema_policy`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb

from resources.duckdb_sql import quote, widen

ChangeKind = Literal["added", "widened", "discarded", "removed", "fits"]


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: ChangeKind
    old_type: str | None
    new_type: str | None

    def describe(self) -> str:
        if self.change in ("added", "discarded"):
            return f"{self.column}: new column ({self.new_type})"
        if self.change == "removed":
            return f"{self.column}: column missing from the batch (was {self.old_type})"
        return f"{self.column}: type {self.old_type} -> {self.new_type}"


class SchemaPolicyError(Exception):
    """A `freeze` table received a batch whose columns differ from the table's."""


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name → DuckDB type of a table or view (`relation` is already-quoted SQL)."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(name): str(type_) for name, type_, *_ in rows}


def differences(existing: dict[str, str], incoming: dict[str, str]) -> list[SchemaChange]:
    """How `incoming` differs from `existing`, column by column, in incoming order."""
    changes = []
    for name, new_type in incoming.items():
        old_type = existing.get(name)
        if old_type is None:
            changes.append(SchemaChange(name, "added", None, new_type))
        elif old_type != new_type:
            widened = widen(old_type, new_type)
            kind: ChangeKind = "widened" if widened != old_type else "fits"
            changes.append(SchemaChange(name, kind, old_type, widened))
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
) -> tuple[list[str], list[SchemaChange]]:
    """Bring `target` (an existing table) to a shape that holds the batch.

    Returns the batch columns to insert and the changes made. `evolve` adds new columns and widens
    types (a narrower incoming type is cast up on insert and changes nothing); `discard_columns`
    drops unknown columns from the batch; `freeze` refuses any difference.
    """
    changes = [c for c in differences(existing, incoming) if c.change != "fits"]
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


def _alter(con: duckdb.DuckDBPyConnection, target: str, change: SchemaChange) -> None:
    con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote(change.column)} TYPE {change.new_type}")
