"""MariaDB tables read through connectorx: the all-types table lands value for value as the
scanner lands it, decimals keep the precision and scale the database declares (those connectorx
cannot hold come as the server's exact text), tinyint(1) is BOOLEAN, the incremental filter is
MariaDB's own WHERE, and a table with a type connectorx cannot read exactly goes to the
scanner."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from platform_assets.sql_kind.reader import Database, Plan, TableRead, attach, plan_read
from resources.duckdb_extensions import extension_directory
from tests.conftest import Project
from tests.platform_assets.sql_kind.conftest import MariaDb
from tests.platform_assets.sql_kind.test_types import MARIADB_ROWS, MARIADB_TABLE


def _plan(maria: MariaDb, tmp_path: Path, read: TableRead) -> Plan:
    database = Database(url=maria.url, dialect="mysql", root=tmp_path)
    con = duckdb.connect()
    attach(con, database, extension_directory())
    return plan_read(con, database, read)


def test_the_all_types_table_is_read_through_connectorx(maria: MariaDb, tmp_path: Path) -> None:
    """test_types.test_mariadb_values_land_exactly lands this table value for value; here:
    through connectorx, with the decimal cast back to the declared one."""
    maria.run(MARIADB_TABLE, f"INSERT INTO t VALUES {', '.join(MARIADB_ROWS)}")
    plan = _plan(maria, tmp_path, TableRead(label="t", name="t"))
    assert plan.arrow is not None and plan.selects == []
    assert [str(kind) for kind in plan.arrow.decimals.values()] == ["decimal128(12, 2)"]


def _decimals(project: Project, maria: MariaDb) -> None:
    maria.run(
        "CREATE TABLE t (id int PRIMARY KEY, amount decimal(12,2), big decimal(20,0),"
        " fine decimal(38,30), edge decimal(28,10), flag tinyint(1))",
        "INSERT INTO t VALUES (1, 9999999999.99, 99999999999999999999,"
        " 12345678.123456789012345678901234567890, 999999999999999999.9999999999, 1),"
        " (2, -0.01, -99999999999999999999, -0.000000000000000000000000000001,"
        " -0.0000000001, 0), (3, NULL, NULL, NULL, NULL, NULL)",
    )
    project.source(
        "db",
        f"""
        name: db
        kind: sql
        connection: {maria.url}
        tables:
          - name: t
            table: t
            primary_key: id
            write: merge
        """,
    )


def test_decimals_keep_the_declared_type_and_every_digit(
    project: Project, maria: MariaDb, tmp_path: Path
) -> None:
    _decimals(project, maria)
    plan = _plan(maria, tmp_path, TableRead(label="t", name="t"))
    assert plan.arrow is not None
    [query] = plan.arrow.queries
    assert "CAST(`big` AS CHAR)" in query and "CAST(`fine` AS CHAR)" in query
    assert set(plan.arrow.decimals) == {"amount", "edge"}
    report = project.run()
    assert report.success, report.failures
    types = dict(
        project.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'")
    )
    assert types["amount"] == "DECIMAL(12,2)" and types["big"] == "DECIMAL(20,0)"
    assert types["fine"] == "DECIMAL(38,30)" and types["edge"] == "DECIMAL(28,10)"
    assert types["flag"] == "BOOLEAN"
    rows = project.query("SELECT amount, big, fine, edge, flag FROM db.t ORDER BY id")
    assert rows == [
        (
            Decimal("9999999999.99"),
            Decimal("99999999999999999999"),
            Decimal("12345678.123456789012345678901234567890"),
            Decimal("999999999999999999.9999999999"),
            True,
        ),
        (
            Decimal("-0.01"),
            Decimal("-99999999999999999999"),
            Decimal("-0.000000000000000000000000000001"),
            Decimal("-0.0000000001"),
            False,
        ),
        (None, None, None, None, None),
    ]


def test_the_cursor_filter_is_mariadb_s_own_where(
    project: Project, maria: MariaDb, tmp_path: Path
) -> None:
    maria.run(
        "CREATE TABLE events (id int PRIMARY KEY, v text, updated_at datetime(6),"
        " seen timestamp(6) NULL)",
        "INSERT INTO events VALUES (1, 'a', '2024-01-01 00:00:00', '2024-01-01 00:00:00'),"
        " (2, 'b', '2024-01-02 00:00:00', '2024-01-02 00:00:00'),"
        " (3, 'c', '2024-01-03 00:00:00', '2024-01-03 00:00:00'), (4, 'd', NULL, NULL)",
    )
    read = TableRead(
        label="events",
        name="events",
        cursor_field="updated_at",
        start="2024-01-02T12:00:00Z",
        on_null_cursor="include_once",
        first_load=True,
    )
    plan = _plan(maria, tmp_path, read)
    assert plan.arrow is not None and plan.cursor_column == "updated_at"
    where, nulls = plan.arrow.queries
    assert where.endswith("WHERE `updated_at` >= '2024-01-02 12:00:00'")
    assert nulls.endswith("WHERE `updated_at` IS NULL")
    project.source(
        "app",
        f"""
        name: app
        kind: sql
        connection: {maria.url}
        tables:
          - name: events
            table: events
            primary_key: id
            write: merge
            incremental:
              cursor_field: seen
              initial_value: '2024-01-02T00:00:00Z'
              on_null_cursor: include_once
        """,
    )
    report = project.run()
    assert report.success, report.failures
    assert project.query("SELECT id FROM app.events ORDER BY id") == [(2,), (3,), (4,)]
    assert [t["cursor"] for t in report.tables] == ["2024-01-03T00:00:00Z"]
    again = project.run()
    assert again.success, again.failures
    assert project.scalar("SELECT count(*) FROM app.events") == 3


def test_a_type_connectorx_cannot_read_exactly_goes_to_the_scanner(
    project: Project, maria: MariaDb, tmp_path: Path
) -> None:
    maria.run(
        "CREATE TABLE t (id int PRIMARY KEY, on_off bit(1), amount decimal(12,2))",
        "INSERT INTO t VALUES (1, b'1', 1.50), (2, b'0', NULL)",
    )
    plan = _plan(maria, tmp_path, TableRead(label="t", name="t"))
    assert plan.arrow is None and len(plan.selects) == 1


def test_a_statement_timeout_fails_the_load(project: Project, maria: MariaDb) -> None:
    maria.run("CREATE VIEW slow AS SELECT 1 AS id, SLEEP(20) AS waited")
    project.source(
        "db",
        f"""
        name: db
        kind: sql
        connection: {maria.url}
        statement_timeout: 1s
        tables:
          - name: slow
            table: slow
            write: replace
        """,
    )
    report = project.run()
    assert not report.success
    [line] = report.failures
    assert "max_statement_time" in line and "slow" in line, line


def test_a_value_connectorx_cannot_read_fails_the_load_naming_the_table(
    project: Project, maria: MariaDb
) -> None:
    """A TIME beyond a day has no DuckDB TIME (the scanner refuses it too): the driver's
    panic becomes one line, and nothing lands."""
    maria.run(
        "CREATE TABLE t (id int PRIMARY KEY, span time)",
        "INSERT INTO t VALUES (1, '12:00:00'), (2, '-838:59:59')",
    )
    project.source(
        "db",
        f"""
        name: db
        kind: sql
        connection: {maria.url}
        tables:
          - name: t
            table: t
            write: replace
        """,
    )
    report = project.run()
    assert not report.success
    [line] = report.failures
    assert "table t:" in line and "838" in line and "\\n" not in line, line
    assert (
        project.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 't'") == 0
    )
