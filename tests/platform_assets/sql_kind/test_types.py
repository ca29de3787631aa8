"""Every value of a table of every supported type lands exactly: PostgreSQL, MariaDB, SQLite,
each compared value by value with what the database's own Python driver reads. A type with no
exact DuckDB type fails the load naming table and column, and lands nothing."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from tests.conftest import Project
from tests.platform_assets.sql_kind.conftest import MariaDb, PgSchema


def _catalog(project: Project, url: str, table: str, extra: str = "") -> None:
    project.source(
        "db",
        f"""
        name: db
        kind: sql
        connection: {url}
        {extra}
        tables:
          - name: t
            table: {table}
            primary_key: id
            write: merge
        """,
    )


def _warehouse_rows(project: Project, columns: list[str]) -> list[tuple[Any, ...]]:
    listed = ", ".join(f'"{c}"' for c in columns)
    return project.query(f"SELECT {listed} FROM db.t ORDER BY id")


def _same(source: Any, landed: Any, column: str) -> None:
    if source is None or landed is None:
        assert source is None and landed is None, (column, source, landed)
        return
    if column.startswith("js"):
        assert json.loads(landed) == (json.loads(source) if isinstance(source, str) else source)
    elif column == "addr":
        assert ipaddress.ip_interface(str(source)) == ipaddress.ip_interface(landed)
    elif column == "ch":  # char(n): trailing blanks are padding (PostgreSQL's own text cast)
        assert str(source).rstrip(" ") == landed
    elif isinstance(landed, uuid.UUID):
        assert landed == uuid.UUID(str(source)), column
    elif isinstance(source, memoryview):
        assert bytes(source) == landed, column
    else:
        assert source == landed, (column, source, landed)
        assert type(source) is type(landed) or isinstance(source, int | float | str), (
            column,
            type(source),
            type(landed),
        )


PG_TABLE = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE t (
  id integer PRIMARY KEY, i2 smallint, i8 bigint, amount numeric(12,2), wide numeric(38,10),
  r real, d double precision, flag boolean, txt text, vc varchar(10), ch char(3), day date,
  tod time, todz timetz, ts timestamp(6), tstz timestamptz, span interval, u uuid, raw bytea,
  js json, jsb jsonb, ints integer[], words text[], feeling mood, addr inet, markup xml
)"""

PG_ROWS = [
    "(1, -32768, 9223372036854775807, 9999999999.99, 1234567890123456789012345678.0123456789,"
    " 1.5, 0.1, true, 'héllo ''quoted''', 'ten chars.', 'abc', '2024-02-29', '23:59:59.999999',"
    " '12:00+02', '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00.654321+02',"
    " '3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10',"
    ' \'{"a": [1, 2.5, "x"]}\', \'{"b": {"c": null}}\', \'{1,NULL,3}\', \'{"a b",c}\','
    " 'happy', '10.0.0.1', '<a>x</a>')",
    "(2, 0, -1, -0.01, -0.0000000001, -2.25, 1e300, false, '', '', 'x', '0001-01-01',"
    " '00:00', '00:00+00', '1970-01-01 00:00', '1999-12-31 23:59:59+00', '-1 day',"
    " '00000000-0000-0000-0000-000000000000', '', '[]', '{}', '{}', '{}', 'sad', '::1', '<b/>')",
    "(3" + ", NULL" * 25 + ")",
]


def test_postgres_values_land_exactly(project: Project, pg: PgSchema) -> None:
    pg.run(*PG_TABLE.split(";"), f"INSERT INTO t VALUES {', '.join(PG_ROWS)}")
    _catalog(project, pg.url, f"{pg.name}.t")
    report = project.run()
    assert report.success, report.failures
    types = dict(
        project.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'")
    )
    assert types["amount"] == "DECIMAL(12,2)" and types["wide"] == "DECIMAL(38,10)"
    assert types["tstz"] == "TIMESTAMP WITH TIME ZONE" and types["ts"] == "TIMESTAMP"
    assert types["js"] == "JSON" and types["jsb"] == "JSON"
    assert types["ints"] == "INTEGER[]" and types["feeling"].startswith("ENUM")
    assert (types["u"], types["raw"], types["span"]) == ("UUID", "BLOB", "INTERVAL")
    with psycopg.connect(pg.url) as con:
        con.execute(f'SET search_path TO "{pg.name}"')
        cursor = con.execute("SELECT * FROM t ORDER BY id")
        columns = [c.name for c in cursor.description or []]
        source = cursor.fetchall()
    landed = _warehouse_rows(project, columns)
    assert len(landed) == len(source) == 3
    for row, stored in zip(source, landed, strict=True):
        for column, value, got in zip(columns, row, stored, strict=True):
            _same(value, got, column)


MARIADB_TABLE = """
CREATE TABLE t (
  id int PRIMARY KEY, ti tinyint, flag tinyint(1), si smallint, mi mediumint, i8 bigint,
  ubig bigint unsigned, amount decimal(12,2), d double, vc varchar(20), txt text, ch char(3),
  day date, tod time(6), dt datetime(6), ts timestamp(6) NULL, yr year, raw blob,
  vb varbinary(8), js json, e enum('a','b'), st set('x','y'), u uuid
)"""

MARIADB_ROWS = [
    "(1, -128, 1, -32768, 8388607, -9223372036854775808, 18446744073709551615, 9999999999.99,"
    " 0.1, 'héllo', 'long text', 'abc', '2024-02-29', '23:59:59.999999',"
    " '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00.654321', 2024, x'00ff10', x'01',"
    " '{\"a\": [1, 2.5]}', 'b', 'x,y', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
    "(2, 0, 0, 0, 0, 0, 0, -0.01, -1e300, '', '', 'x', '1000-01-01', '00:00:00',"
    " '1000-01-01 00:00:00', '1970-01-02 00:00:00', 1901, x'', x'', '[]', 'a', '',"
    " '00000000-0000-0000-0000-000000000000')",
    "(3" + ", NULL" * 22 + ")",
]


def _mariadb_value(column: str, value: Any) -> Any:
    if column == "tod" and isinstance(value, timedelta):
        return (datetime.min + value).time()
    if column == "ts" and isinstance(value, datetime):
        return value.replace(tzinfo=UTC)  # the session reads TIMESTAMP in UTC
    if column == "flag" and value is not None:
        return bool(value)
    if column == "st" and isinstance(value, set):
        return ",".join(sorted(value))
    if isinstance(value, bytes) and column not in ("raw", "vb"):
        return value.decode()
    return value


def test_mariadb_values_land_exactly(project: Project, maria: MariaDb) -> None:
    maria.run(MARIADB_TABLE, f"INSERT INTO t VALUES {', '.join(MARIADB_ROWS)}")
    _catalog(project, maria.url, "t")
    report = project.run()
    assert report.success, report.failures
    types = dict(
        project.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'")
    )
    assert types["flag"] == "BOOLEAN" and types["amount"] == "DECIMAL(12,2)"
    assert types["ubig"] == "UBIGINT" and types["js"] == "JSON" and types["u"] == "UUID"
    assert types["dt"] == "TIMESTAMP" and types["ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["tod"] == "TIME"
    con = pymysql.connect(host="127.0.0.1", user="root", database=maria.name)
    with contextlib.closing(con), con.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("SELECT * FROM t ORDER BY id")
        columns = [c[0] for c in cursor.description]
        source = cursor.fetchall()
    landed = _warehouse_rows(project, columns)
    assert len(landed) == len(source) == 3
    for row, stored in zip(source, landed, strict=True):
        for column, value, got in zip(columns, row, stored, strict=True):
            _same(_mariadb_value(column, value), got, column)


def test_mariadb_datetime_in_a_declared_zone(project: Project, maria: MariaDb) -> None:
    maria.run(
        "CREATE TABLE t (id int PRIMARY KEY, dt datetime)",
        "INSERT INTO t VALUES (1, '2024-07-01 12:00:00')",
    )
    _catalog(project, maria.url, "t", extra="source_timezone: Europe/Paris")
    assert project.run().success
    landed = project.scalar("SELECT dt FROM db.t")
    assert landed == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


SQLITE_TABLE = """CREATE TABLE t (id integer PRIMARY KEY, n integer, r real, txt text,
 raw blob, amount decimal(12,2), flag boolean, day date, ts timestamp, js json, vc varchar(5))"""


def test_sqlite_values_land_exactly(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as lite:
        lite.execute(SQLITE_TABLE)
        lite.execute(
            "INSERT INTO t VALUES (1, 9223372036854775807, 0.1, 'héllo', x'00ff', 1234.56, 1,"
            " '2024-02-29', '2024-01-01 10:00:00.123456', '{\"a\": 1}', 'abc'),"
            " (2, -1, -2.5, '', x'', -0.01, 0, '1970-01-01', '1970-01-01 00:00:00', '[]', ''),"
            " (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
        lite.commit()
        cursor = lite.execute("SELECT * FROM t ORDER BY id")
        columns = [c[0] for c in cursor.description]
        source = cursor.fetchall()
    _catalog(project, f"sqlite:///{path}", "t")
    report = project.run()
    assert report.success, report.failures
    types = dict(
        project.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'")
    )
    assert types["amount"] == "DECIMAL(12,2)" and types["flag"] == "BOOLEAN"
    assert types["js"] == "JSON" and types["n"] == "BIGINT"
    landed = _warehouse_rows(project, columns)
    converters = {
        "amount": lambda v: Decimal(str(v)),
        "flag": bool,
        "day": date.fromisoformat,
        "ts": datetime.fromisoformat,
    }
    for row, stored in zip(source, landed, strict=True):
        for column, value, got in zip(columns, row, stored, strict=True):
            expected = (
                converters[column](value) if column in converters and value is not None else value
            )
            _same(expected, got, column)


def test_an_unmappable_type_fails_naming_table_and_column(project: Project, pg: PgSchema) -> None:
    pg.run(
        "CREATE TABLE t (id integer PRIMARY KEY, price numeric)",
        "INSERT INTO t VALUES (1, 1.5)",
    )
    _catalog(project, pg.url, f"{pg.name}.t")
    report = project.run()
    assert not report.success
    [line] = report.failures
    assert f"table {pg.name}.t, column 'price'" in line and "numeric" in line
    assert (
        project.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 't'") == 0
    )


def test_a_time_of_day_and_a_money_column_are_told_apart() -> None:
    """money is the server's locale text: refused; timetz is a value: kept."""
    from platform_assets.sql_kind.types import SourceColumn, land_as

    assert land_as(SourceColumn("x", "time with time zone", "b"), "postgres") == '"x"'
    try:
        land_as(SourceColumn("x", "money", "b"), "postgres")
    except ValueError as error:
        assert "money" in str(error)
    else:
        raise AssertionError("money was accepted")
