"""MariaDB tables read through connectorx, every column landed as the scanner would land it.

connectorx reads a MariaDB table into Arrow faster than DuckDB's mysql scanner, but not
exactly as it stands: every decimal comes as decimal128(38,10) (a scale above 10 is rounded
without a word; more than 18 digits before the point fail), tinyint(1) as an integer, bit(1)
as bytes. So a read through it is planned from the columns the database declares:

- a decimal(p,s) with s <= 10 and p - s <= 18 is cast back to decimal128(p,s) in Arrow (a
  checked cast: a value that would change fails the load); a wider one is sent by the server
  as its exact text and cast to DECIMAL(p,s) by DuckDB;
- every column is then cast to the type the scanner gives it (tinyint(1) to BOOLEAN, ...) and
  landed by the same expression as a scanner read (`types.land_as`);
- the read is the server's own SQL: the incremental `WHERE cursor >= start` runs in MariaDB.

Where that cannot hold (a column type outside `_READ`, MySQL proper, which is not tested here,
connection options in the URL, which are libmysql's), `plan` says None and the scanner reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from resources.cursors import bare_number, parse_timestamp
from resources.duckdb_sql import quote

_PRECISION = re.compile(r"\((\d+)(?:,\s*(\d+))?\)")
BATCH_ROWS = 50_000
"""Rows per Arrow batch: bounds the memory of a read whatever the table's size."""
VIEW = "__connectorx"

_READ = {
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
    "float",
    "double",
    "real",
    "decimal",
    "numeric",
    "year",
    "char",
    "varchar",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "enum",
    "set",
    "json",
    "uuid",
    "inet4",
    "inet6",
    "date",
    "time",
    "datetime",
    "timestamp",
    "binary",
    "varbinary",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "bool",
    "boolean",
}
"""The declared types (first word) connectorx reads as the scanner does, once cast back."""

_CONNECTORX_SCALE, _CONNECTORX_INTEGER_DIGITS = 10, 18


@dataclass(frozen=True)
class Column:
    """A column to read: its name, the type MariaDB declares and the type the scanner gives
    it, and the DuckDB expression that lands it (over a column of the scanner's type)."""

    name: str
    declared: str
    scanned: str
    landed: str


@dataclass(frozen=True)
class ArrowRead:
    """The SQL MariaDB runs (one statement per part of the read) and how its Arrow batches
    become the rows that land."""

    queries: list[str]
    decimals: dict[str, pa.DataType]
    """Columns cast back in Arrow to the decimal the database declares."""
    select: str
    """The DuckDB SELECT of the landed rows, over the batches registered as `VIEW`."""


def _mysql_quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mysql_literal(text: str) -> str:
    """A MariaDB string literal (backslash is an escape there unless the server says not)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _base(declared: str) -> str:
    return declared.lower().split("(")[0].strip().split(" ")[0]


def _decimal(declared: str) -> tuple[int, int]:
    match = _PRECISION.search(declared)
    assert match is not None  # types.land_as has refused a decimal without precision
    return int(match.group(1)), int(match.group(2) or 0)


def _start_literal(value: str, base: str, zone: str | None) -> str:
    """A cursor value as a MariaDB literal. The session reads TIMESTAMP in UTC; a DATETIME is
    wall-clock time in `zone` (UTC when none is declared)."""
    moment = parse_timestamp(value)
    if moment is None:
        return value if bare_number(value) else _mysql_literal(value)
    if moment.tzinfo is not None:
        where = ZoneInfo(zone) if zone and base != "timestamp" else UTC
        moment = moment.astimezone(where).replace(tzinfo=None)
    return _mysql_literal(moment.isoformat(sep=" "))


def usable(url: str, columns: Sequence[Column], server_version: str) -> bool:
    """Whether connectorx can read this table exactly: a MariaDB server, a URL with no
    connection options (those are libmysql's), every column's type in `_READ`."""
    if "mariadb" not in server_version.lower() or urlsplit(url).query:
        return False
    return all(_base(column.declared) in _READ for column in columns)


def plan(
    columns: Sequence[Column],
    relation: str,
    cursor: Column | None,
    start: str | None,
    include_nulls: bool,
    zone: str | None,
) -> ArrowRead:
    """The read of `relation` (MariaDB's quoted `schema`.`table`): all rows, or with `cursor`
    those from `start` on (every non-NULL one without a start) and, if `include_nulls`, the
    rows whose cursor is NULL."""
    sent: list[str] = []
    decimals: dict[str, pa.DataType] = {}
    typed: list[str] = []
    for column in columns:
        name = _mysql_quote(column.name)
        if _base(column.declared) in ("decimal", "numeric"):
            precision, scale = _decimal(column.declared)
            if scale <= _CONNECTORX_SCALE and precision - scale <= _CONNECTORX_INTEGER_DIGITS:
                decimals[column.name] = pa.decimal128(precision, scale)
            else:  # beyond what connectorx holds: the server's exact text, cast by DuckDB
                name = f"CAST({name} AS CHAR) AS {name}"
        sent.append(name)
        typed.append(f"CAST({quote(column.name)} AS {column.scanned}) AS {quote(column.name)}")
    query = f"SELECT {', '.join(sent)} FROM {relation}"
    queries = [query]
    if cursor is not None:
        field = _mysql_quote(cursor.name)
        if start is not None:
            value = _start_literal(start, _base(cursor.declared), zone)
            queries = [f"{query} WHERE {field} >= {value}"]
        else:
            queries = [f"{query} WHERE {field} IS NOT NULL"]
        if include_nulls:
            queries.append(f"{query} WHERE {field} IS NULL")
    landed = ", ".join(column.landed for column in columns)
    select = f"SELECT {landed} FROM (SELECT {', '.join(typed)} FROM {VIEW})"
    return ArrowRead(queries, decimals, select)


def _url(url: str) -> str:
    """The URL connectorx reads (`mysql://`, whatever driver the scheme names)."""
    parts = urlsplit(url)
    return urlunsplit(("mysql", *parts[1:]))


def _driver_error(error: BaseException) -> str | None:
    """The first line of a connectorx failure (a RuntimeError, or a Rust panic, which is a
    BaseException), or None for anything else."""
    if isinstance(error, RuntimeError) or type(error).__name__ == "PanicException":
        return (str(error) or repr(error)).splitlines()[0]
    return None


def _exact(
    batches: pa.RecordBatchReader, decimals: dict[str, pa.DataType], failures: list[str]
) -> Iterator[Any]:
    """The batches with their decimals cast back; a driver failure is kept in `failures`
    (DuckDB, which pulls the batches, reports it wrapped in a traceback)."""
    try:
        for batch in batches:
            for name, kind in decimals.items():
                index = batch.schema.get_field_index(name)
                # safe: a value the declared decimal cannot hold raises instead of changing
                column = pc.cast(batch.column(index), kind, safe=True)
                batch = batch.set_column(index, name, column)
            yield batch
    except BaseException as error:
        message = _driver_error(error)
        if isinstance(error, pa.ArrowInvalid):
            message = str(error).splitlines()[0]
        if message is None:
            raise
        failures.append(message)
        raise RuntimeError(message) from None


def stage(
    con: duckdb.DuckDBPyConnection,
    url: str,
    read: ArrowRead,
    session: list[str],
    stage_relations: Callable[[list[duckdb.DuckDBPyRelation]], None],
) -> None:
    """Run `read` through connectorx (each connection first running `session`) and hand its
    landed rows, as one relation on `con`, to `stage_relations`. Raises RuntimeError (the
    driver's message) when the database refuses or a value cannot be read."""
    import connectorx

    failures: list[str] = []
    try:
        batches = connectorx.read_sql(
            _url(url),
            read.queries,
            return_type="arrow_stream",
            batch_size=BATCH_ROWS,
            pre_execution_query=session,
        )
        schema = batches.schema
        for name, kind in read.decimals.items():
            schema = schema.set(schema.get_field_index(name), pa.field(name, kind))
        exact = pa.RecordBatchReader.from_batches(schema, _exact(batches, read.decimals, failures))
        con.register(VIEW, exact)
        try:
            stage_relations([con.sql(read.select)])
        finally:
            con.unregister(VIEW)
    except BaseException as error:
        message = failures[0] if failures else _driver_error(error)
        if message is None:
            raise
        raise RuntimeError(message) from None
