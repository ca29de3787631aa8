"""`tributary query`: one statement on the warehouse, confined to reading it.

A read-only connection still lets DuckDB reach the file system: `COPY (SELECT 42) TO 'x.csv'`
writes a file, `read_csv('/etc/passwd')` reads one, `ATTACH` opens another database. The query's
connection has external access switched off, no directory allowed, and its configuration locked,
so that no statement can switch them back on.
"""

from __future__ import annotations

from typing import Any

import duckdb

CONFINEMENT = (
    "SET allowed_directories = []",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
"""Applied in this order: the first two cannot be set once the third is."""


def confine(con: duckdb.DuckDBPyConnection) -> None:
    """Leave `con` able to read its own database only: no file read or written, no database
    attached, no extension installed, no setting changed."""
    for statement in CONFINEMENT:
        con.execute(statement)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of `sql` on `con`, confined first. Raises duckdb.Error
    (PermissionException for a file, InvalidInputException for a setting) as DuckDB does."""
    confine(con)
    cursor = con.execute(sql)
    return [d[0] for d in cursor.description or []], cursor.fetchall()
