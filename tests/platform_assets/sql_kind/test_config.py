"""`kind: sql` catalog errors come at load, naming the field; the password comes only from the
environment and never shows in what a run tells."""

from __future__ import annotations

import pytest
from dagster import DagsterEventType

from platform_assets.catalog import CatalogError
from tests.conftest import Project


def _problems(project: Project, body: str) -> str:
    project.source("db", "name: db\nkind: sql\n" + body)
    with pytest.raises(CatalogError) as raised:
        project.catalog()
    return str(raised.value)


TABLE = "tables:\n  - name: t\n    table: public.t\n"


def test_a_password_written_in_the_catalog_is_refused(project: Project) -> None:
    problems = _problems(project, "connection: postgresql://app:hunter2@db:5432/erp\n" + TABLE)
    assert "connection" in problems and "environment" in problems
    assert "hunter2" not in problems
    default = "connection: ${ERP_URL:-postgresql://app:hunter2@db/erp}\n" + TABLE
    assert "environment" in _problems(project, default)


def test_a_password_from_the_environment_is_accepted(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQL19_PASSWORD", "hunter2")
    project.source(
        "db", "name: db\nkind: sql\nconnection: postgresql://app:${SQL19_PASSWORD}@db/erp\n" + TABLE
    )
    source = project.catalog().source("db")
    assert "hunter2" not in source.model_dump_json()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("DELETE FROM t", "must be a SELECT"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT * FROM t FOR UPDATE", "read-only"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "read-only"),
        ("SELECT * INTO copy FROM t", "read-only"),
        ("SELEC 1", "parse"),
    ],
)
def test_a_query_must_be_one_read_only_select(project: Project, query: str, said: str) -> None:
    body = f'connection: postgresql://u@h/d\ntables:\n  - name: t\n    query: "{query}"\n'
    problems = _problems(project, body)
    assert "tables[0] (t)" in problems and said in problems


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("    table: t\n    query: SELECT 1\n", "exactly one of table: or query:"),
        ("    table: a.b.c\n", "schema.name"),
        (
            "    table: t\n    primary_key: id\n    write: append\n"
            "    incremental: {cursor_field: id}\n",
            "only write: merge",
        ),
        ("    table: t\n    primary_key: id\n    cdc: true\n", "write: merge"),
        (
            "    query: SELECT 1 AS id\n    primary_key: id\n    write: merge\n    cdc: true\n",
            "needs table:",
        ),
        (
            "    table: t\n    primary_key: id\n    write: merge\n"
            "    incremental: {cursor_field: id, on_null_cursor: sometimes}\n",
            "on_null_cursor",
        ),
    ],
)
def test_table_fields_are_checked(project: Project, table: str, said: str) -> None:
    problems = _problems(project, "connection: postgresql://u@h/d\ntables:\n  - name: t\n" + table)
    assert said in problems


def test_other_databases_and_fields_are_refused(project: Project) -> None:
    assert "is not a database URL" in _problems(project, "connection: oracle://u@h/d\n" + TABLE)
    assert "applies to tables" in _problems(
        project, "connection: postgresql://u@h/d\ninclude: [a*]\n" + TABLE
    )
    sqlite_cdc = (
        "connection: sqlite:///x.db\ntables:\n  - name: t\n    table: t\n"
        "    primary_key: id\n    write: merge\n    cdc: true\n"
    )
    assert "SQLite has no change log" in _problems(project, sqlite_cdc)


def test_the_password_is_redacted_from_every_failure(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQL19_SECRET_PASSWORD", "s3cr3t-Pa55")
    # Nothing listens on port 9: the connection fails, and its error quotes the URL.
    project.source(
        "db",
        "name: db\nkind: sql\n"
        "connection: postgresql://app:${SQL19_SECRET_PASSWORD}@127.0.0.1:9/erp\n" + TABLE,
    )
    report = project.run()
    assert not report.success
    assert "cannot connect" in report.failures[0]
    told = [*report.failures]
    told += [str(row) for row in project.query("SELECT * FROM _tributary.loads")]
    records = project.instance.get_records_for_run(report.run_id).records
    told += [str(record.event_log_entry) for record in records]
    failures = [
        r
        for r in records
        if r.event_log_entry.dagster_event
        and r.event_log_entry.dagster_event.event_type == DagsterEventType.STEP_FAILURE
    ]
    assert failures
    assert not [text for text in told if "s3cr3t" in text or "Pa55" in text]


def test_reflecting_an_unreachable_database_is_a_catalog_error(project: Project) -> None:
    problems = _problems(project, 'connection: postgresql://u@127.0.0.1:9/d\ntables: "*"\n')
    assert 'tables: "*" could not read' in problems and "cannot connect" in problems
