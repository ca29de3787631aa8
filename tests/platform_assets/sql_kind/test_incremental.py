"""Incremental reads: `cursor >= last - lookback` runs in the database, rows read again at the
boundary land once (merged by key), NULL cursors go as `on_null_cursor` says, and a run with
nothing new succeeds and lands nothing. `tables: "*"` reflects a schema."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from platform_assets.runner import run_sources
from platform_assets.sql_kind.reader import Database, TableRead, attach, plan_read
from tests.conftest import Project
from tests.platform_assets.sql_kind.conftest import PgSchema


def _events(project: Project, pg: PgSchema, incremental: str) -> None:
    project.source(
        "app",
        f"""
        name: app
        kind: sql
        connection: {pg.url}
        tables:
          - name: events
            table: {pg.name}.events
            primary_key: id
            write: merge
            incremental: {incremental}
        """,
    )


def _table(report_tables: list[dict[str, object]]) -> dict[str, object]:
    [table] = report_tables
    return table


@pytest.fixture
def events(pg: PgSchema) -> PgSchema:
    pg.run(
        "CREATE TABLE events (id int PRIMARY KEY, v text, updated_at timestamptz)",
        "INSERT INTO events VALUES (1, 'a', '2024-01-01T00:00:00Z'),"
        " (2, 'b', '2024-01-02T00:00:00Z'), (3, 'c', '2024-01-03T00:00:00Z')",
    )
    return pg


def test_lookback_rereads_the_boundary_and_lands_each_row_once(
    project: Project, events: PgSchema
) -> None:
    _events(project, events, "{cursor_field: updated_at, lookback: 1h}")
    first = project.run()
    assert first.success, first.failures
    assert _table(first.tables)["cursor"] == "2024-01-03T00:00:00Z"
    events.run(
        "UPDATE events SET v = 'b2', updated_at = '2024-01-04T00:00:00Z' WHERE id = 2",
        # committed late, stamped before the cursor but within the lookback
        "INSERT INTO events VALUES (4, 'late', '2024-01-02T23:30:00Z')",
    )
    second = project.run()
    assert second.success, second.failures
    loaded = _table(second.tables)
    # Read: rows from 2024-01-02T23:00 on (3, 4 and the updated 2); row 1 is not read again.
    assert loaded["rows_in"] == 3
    assert (loaded["rows_inserted"], loaded["rows_updated"]) == (1, 1)
    assert loaded["cursor"] == "2024-01-04T00:00:00Z"
    assert project.query("SELECT id, v FROM app.events ORDER BY id") == [
        (1, "a"),
        (2, "b2"),
        (3, "c"),
        (4, "late"),
    ]


def test_an_empty_increment_succeeds_and_lands_nothing(project: Project, events: PgSchema) -> None:
    _events(project, events, "{cursor_field: updated_at, initial_value: '2030-01-01T00:00:00Z'}")
    report = project.run()
    assert report.success, report.failures
    assert _table(report.tables)["rows_in"] == 0
    _events(project, events, "{cursor_field: updated_at}")
    assert project.run().success
    again = project.run()
    assert again.success
    loaded = _table(again.tables)
    assert (loaded["rows_inserted"], loaded["rows_updated"]) == (0, 0)
    assert project.scalar("SELECT count(*) FROM app.events") == 3
    assert project.scalar("SELECT count(DISTINCT _load_id) FROM app.events") == 1


def test_null_cursors_are_included_once(project: Project, events: PgSchema) -> None:
    events.run("INSERT INTO events VALUES (9, 'undated', NULL)")
    _events(project, events, "{cursor_field: updated_at, on_null_cursor: include_once}")
    first = project.run()
    assert first.success, first.failures
    assert _table(first.tables)["rows_in"] == 4
    second = project.run()
    assert _table(second.tables)["rows_in"] == 1  # the boundary row; not the undated one
    assert project.scalar("SELECT count(*) FROM app.events WHERE updated_at IS NULL") == 1


def test_a_full_refresh_reads_from_the_start(project: Project, events: PgSchema) -> None:
    _events(project, events, "{cursor_field: updated_at, on_null_cursor: include_once}")
    assert project.run().success
    events.run("INSERT INTO events VALUES (9, 'undated', NULL)")
    catalog = project.catalog()
    report = run_sources(
        catalog,
        catalog.sources,
        instance=project.instance,
        resources=project.resources(),
        full_refresh=["app.events"],
    )
    assert report.success, report.failures
    assert _table(report.tables)["rows_in"] == 4
    assert project.scalar("SELECT count(*) FROM app.events") == 4


def test_null_cursors_are_excluded(project: Project, events: PgSchema) -> None:
    events.run("INSERT INTO events VALUES (9, 'undated', NULL)")
    _events(project, events, "{cursor_field: updated_at, on_null_cursor: exclude}")
    report = project.run()
    assert report.success and _table(report.tables)["rows_in"] == 3
    assert project.scalar("SELECT count(*) FROM app.events WHERE updated_at IS NULL") == 0


def test_null_cursors_fail_the_load_by_default(project: Project, events: PgSchema) -> None:
    _events(project, events, "{cursor_field: updated_at}")
    assert project.run().success
    events.run("INSERT INTO events VALUES (9, 'undated', NULL), (10, 'new', '2025-01-01Z')")
    report = project.run()
    assert not report.success
    [line] = report.failures
    assert "incremental.cursor_field 'updated_at' is NULL in 1 rows" in line
    assert project.scalar("SELECT count(*) FROM app.events") == 3
    assert project.scalar("SELECT cursor_value FROM _tributary.state") == "2024-01-03T00:00:00Z"


def test_the_cursor_filter_runs_in_the_database(
    events: PgSchema, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from resources.duckdb_extensions import extension_directory

    database = Database(url=events.url, dialect="postgres", root=tmp_path)
    con = duckdb.connect()
    attach(con, database, extension_directory())
    read = TableRead(
        label="events",
        schema=events.name,
        name="events",
        cursor_field="updated_at",
        start="2024-01-02T12:00:00Z",
        on_null_cursor="exclude",
        first_load=False,
    )
    plan = plan_read(con, database, read)
    con.execute("SET pg_debug_show_queries = true")
    rows = con.execute(plan.selects[0]).fetchall()
    assert [row[0] for row in rows] == [3]
    captured = capfd.readouterr()
    sent = captured.out + captured.err
    assert "WHERE \"updated_at\" >= '2024-01-02 12:00:00+00'" in sent


def test_an_incremental_query_is_filtered_inside_its_own_sql(
    project: Project, events: PgSchema
) -> None:
    project.source(
        "app",
        f"""
        name: app
        kind: sql
        connection: {events.url}
        tables:
          - name: recent
            query: "SELECT id, upper(v) AS v, updated_at FROM {events.name}.events"
            primary_key: id
            write: merge
            incremental: {{cursor_field: updated_at, initial_value: '2024-01-02T00:00:00Z'}}
        """,
    )
    report = project.run()
    assert report.success, report.failures
    assert project.query("SELECT id, v FROM app.recent ORDER BY id") == [(2, "B"), (3, "C")]


def test_a_whole_schema_is_reflected(project: Project, pg: PgSchema) -> None:
    pg.run(
        "CREATE TABLE customers (id int PRIMARY KEY, name text)",
        "CREATE TABLE order_lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line))",
        "CREATE TABLE audit_log (at timestamptz, what text)",
        "CREATE TABLE tmp_scratch (x int)",
        "INSERT INTO customers VALUES (1, 'Ada')",
        "INSERT INTO order_lines VALUES (1, 1, 5), (1, 2, 7)",
        "INSERT INTO audit_log VALUES (now(), 'x')",
    )
    project.source(
        "shop",
        f"""
        name: shop
        kind: sql
        connection: {pg.url}
        schema: {pg.name}
        tables: "*"
        exclude: [tmp_*]
        """,
    )
    source = project.catalog().source("shop")
    shapes = {t.name: (t.write, t.primary_key) for t in source.tables}
    assert shapes == {
        "audit_log": ("replace", ()),
        "customers": ("merge", ("id",)),
        "order_lines": ("merge", ("order_id", "line")),
    }
    report = project.run()
    assert report.success, report.failures
    assert project.scalar("SELECT sum(qty) FROM shop.order_lines") == 12
