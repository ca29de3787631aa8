"""`tributary query`: one statement on the warehouse, confined to reading it.

A read-only connection still lets DuckDB reach the file system: `COPY (SELECT 42) TO 'x.csv'`
writes a file, `read_csv('/etc/passwd')` reads one, `ATTACH` opens another database. The query's
connection has external access switched off, no directory allowed, and its configuration locked,
so that no statement can switch them back on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from resources.duckdb_sql import literal

CONFINEMENT = (
    "SET allowed_directories = []",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
"""Applied in this order: the first two cannot be set once the third is."""


_READING = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def confine(con: duckdb.DuckDBPyConnection, data_directories: Sequence[str] = ()) -> None:
    """Leave `con` able to read its own database only: no file read or written (but for the
    database's own `data_directories`: a DuckLake's Parquet files), no database attached, no
    extension installed, no setting changed."""
    allowed = ", ".join(literal(d) for d in data_directories)
    con.execute(f"SET allowed_directories = [{allowed}]")
    for statement in CONFINEMENT[1:]:
        con.execute(statement)


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, data_directories: Sequence[str] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of `sql` on `con`, confined first (see `confine`). Where data
    directories are open to it, only queries run: `COPY ... TO` could write there. Raises
    duckdb.Error (PermissionException for a file or a statement, InvalidInputException for a
    setting) as DuckDB does."""
    confine(con, data_directories)
    if data_directories:
        for statement in con.extract_statements(sql):
            if statement.type not in _READING:
                raise duckdb.PermissionException(
                    f"only queries run on this warehouse, not {statement.type.name}"
                )
    cursor = con.execute(sql)
    return [d[0] for d in cursor.description or []], cursor.fetchall()
