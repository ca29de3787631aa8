"""What a load of `kind: sql` does when the database misbehaves: each failure is one line
naming source and table, and leaves the warehouse exactly as it was; upstream schema changes
land as schema evolution."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import Project
from tests.platform_assets.sql_kind.conftest import PgSchema
from tests.platform_assets.sql_kind.servers import Postgres, throwaway_postgres


def _source(project: Project, url: str, table: str, extra: str = "") -> None:
    project.source(
        "erp",
        f"""
        name: erp
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


def _snapshot(project: Project) -> list[tuple[object, ...]]:
    return project.query("SELECT * EXCLUDE (_loaded_at) FROM erp.t ORDER BY id")


def test_a_connection_dropped_mid_read_fails_and_lands_nothing(
    project: Project, pg: PgSchema
) -> None:
    pg.run(
        "CREATE TABLE t (id bigint PRIMARY KEY, v text)",
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 10) g",
    )
    _source(project, pg.url, f"{pg.name}.t")
    assert project.run().success
    before = _snapshot(project)
    pg.run("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(11, 1000000) g")
    killed: list[int] = []

    def kill_the_reader() -> None:
        with psycopg.connect(pg.url, autocommit=True) as con:
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                rows = con.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY%%' "
                    "AND state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
                    (f"%{pg.name}%",),
                ).fetchall()
                for (pid,) in rows:
                    con.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.02)

    killer = threading.Thread(target=kill_the_reader)
    killer.start()
    report = project.run()
    killer.join()
    assert killed, "the read was never seen in pg_stat_activity"
    assert not report.success
    [line] = report.failures
    assert line.startswith(f"source 'erp', table 't': table {pg.name}.t: ")
    assert "terminat" in line.lower() or "connection" in line.lower()
    assert _snapshot(project) == before


@pytest.fixture
def server() -> Iterator[Postgres]:
    with throwaway_postgres() as started:
        with psycopg.connect(started.url, autocommit=True) as con:
            con.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        yield started


def test_a_server_restart_fails_one_run_and_the_next_one_loads(
    project: Project, server: Postgres
) -> None:
    _source(project, server.url, "public.t")
    assert project.run().success
    before = _snapshot(project)
    server.stop()
    down = project.run()
    assert not down.success
    [line] = down.failures
    assert line.startswith("source 'erp', table 't': cannot connect to the postgres database")
    assert "\n" not in line
    assert _snapshot(project) == before
    server.start()
    with psycopg.connect(server.url, autocommit=True) as con:
        con.execute("INSERT INTO t VALUES (3, 'c')")
    up = project.run()
    assert up.success, up.failures
    assert project.scalar("SELECT count(*) FROM erp.t") == 3


def test_a_statement_timeout_fails_the_load(project: Project, pg: PgSchema) -> None:
    pg.run(
        "CREATE TABLE base (id int PRIMARY KEY, v text)",
        "INSERT INTO base VALUES (1, 'a')",
        "CREATE VIEW t AS SELECT id, v FROM base, pg_sleep(3)",
    )
    _source(project, pg.url, f"{pg.name}.t", extra="statement_timeout: 1s")
    started = time.monotonic()
    report = project.run()
    assert not report.success
    [line] = report.failures
    assert "statement timeout" in line
    assert time.monotonic() - started < 30
    assert (
        project.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 't'") == 0
    )


def test_upstream_schema_changes(project: Project, pg: PgSchema) -> None:
    pg.run(
        "CREATE TABLE t (id int PRIMARY KEY, qty int, price numeric(8,2))",
        "INSERT INTO t VALUES (1, 5, 9.99)",
    )
    _source(project, pg.url, f"{pg.name}.t")
    assert project.run().success

    # A column added upstream is added to the table; earlier rows hold NULL in it.
    pg.run("ALTER TABLE t ADD COLUMN note text", "INSERT INTO t VALUES (2, 7, 1.50, 'new')")
    added = project.run()
    assert added.success, added.failures
    assert project.query("SELECT id, note FROM erp.t ORDER BY id") == [(1, None), (2, "new")]

    # A type widened upstream widens the column; every value stays exact.
    pg.run(
        "ALTER TABLE t ALTER COLUMN qty TYPE bigint, ALTER COLUMN price TYPE numeric(14,4)",
        "INSERT INTO t VALUES (3, 9000000000, 12345.6789, 'wide')",
    )
    widened = project.run()
    assert widened.success, widened.failures
    types = dict(
        project.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'")
    )
    assert types["qty"] == "BIGINT" and types["price"] == "DECIMAL(14,4)"
    changes = project.query(
        "SELECT column_name, change FROM _tributary.schema_changes ORDER BY ALL"
    )
    assert ("note", "added") in changes and ("qty", "widened") in changes
    assert str(project.scalar("SELECT price FROM erp.t WHERE id = 3")) == "12345.6789"

    # A table dropped upstream fails the load, naming it; the warehouse keeps what it had.
    before = _snapshot(project)
    pg.run("DROP TABLE t")
    dropped = project.run()
    assert not dropped.success
    [line] = dropped.failures
    assert line == (
        f"source 'erp', table 't': table {pg.name}.t does not exist in the postgres database"
    )
    assert _snapshot(project) == before
