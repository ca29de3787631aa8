"""How unique a column (or a compound key) is, counted by polars over the values DuckDB hands it.

Exporting a key column costs little (fixed-width values are shared, not copied), and polars'
`n_unique` is several times faster than DuckDB's `count(DISTINCT)` on millions of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from resources.duckdb_sql import column_list


@dataclass(frozen=True)
class KeyCounts:
    rows: int
    null_keys: int
    """Rows where a key column is null."""
    repeats: int
    """Rows (with no null key) beyond the first of each repeated key."""


def key_counts(con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str]) -> KeyCounts:
    """Count the rows of `relation` (quoted SQL) whose `columns` are null or repeated."""
    import polars as pl  # loads with the first key it counts

    keys = con.execute(f"SELECT {column_list(columns)} FROM {relation}").pl()
    null_rows = keys.select(pl.any_horizontal(pl.all().is_null()).sum()).item()
    present = keys.drop_nulls()
    return KeyCounts(keys.height, int(null_rows), present.height - present.n_unique())
