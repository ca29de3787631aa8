"""MariaDB change data capture: snapshot at its binlog position, then the binlog's changes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from platform_assets.sql_kind.cdc_mysql import MysqlCdc
from resources.mysql_cdc import BinlogError
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from tests.conftest import Project
from tests.servers.mariadb import MariaDbServer

COLUMNS = "id, amount, note, at, flag"
QUOTED = 'id, amount, note, "at", flag'


@pytest.fixture
def my_table(binlog_mariadb: MariaDbServer) -> Iterator[str]:
    name = f"cdc19_{uuid.uuid4().hex[:8]}"
    _run(
        binlog_mariadb,
        f"CREATE TABLE {name} (id int PRIMARY KEY, amount decimal(12,2), note text, "
        "at datetime(6), flag tinyint(1))",
        f"INSERT INTO {name} SELECT seq, seq * 1.25, concat('row ', seq), "
        "'2026-01-01 00:00:00' + INTERVAL seq HOUR, seq % 2 FROM seq_1_to_100",
    )
    yield name
    _run(binlog_mariadb, f"DROP TABLE {name}")


def _run(server: MariaDbServer, *statements: str) -> None:
    with server.connect() as con, con.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _source(server: MariaDbServer, table: str) -> list[tuple[Any, ...]]:
    with server.connect() as con, con.cursor() as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {table} ORDER BY id")
        return [(*r[:4], None if r[4] is None else bool(r[4])) for r in cursor.fetchall()]


def _landed(path: Path, table: str, live: bool = True) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute(f'DESCRIBE erp."{table}"').fetchall()]
        where = " WHERE _deleted_at IS NULL" if live and "_deleted_at" in names else ""
        return con.execute(f'SELECT {QUOTED} FROM erp."{table}"{where} ORDER BY id').fetchall()


def _change(server: MariaDbServer, table: str) -> None:
    _run(
        server,
        f"INSERT INTO {table} (id, amount, note) VALUES (1001, 9.99, 'new')",
        f"UPDATE {table} SET amount = amount + 1, note = NULL WHERE id <= 10",
        f"DELETE FROM {table} WHERE id BETWEEN 11 AND 15",
        f"UPDATE {table} SET id = 2000 WHERE id = 20",
    )


@pytest.mark.parametrize("soft", [True, False])
def test_binlog_changes_land_exactly(
    binlog_mariadb: MariaDbServer, my_table: str, tmp_path: Path, soft: bool
) -> None:
    cdc = MysqlCdc(binlog_mariadb.url, "erp", my_table, "test", my_table, soft_delete=soft)
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "st"))
    spec = WriteSpec("erp", my_table, "merge", ("id",))
    cdc.load(warehouse, spec)
    assert _landed(tmp_path / "w.duckdb", my_table) == _source(binlog_mariadb, my_table)
    _change(binlog_mariadb, my_table)
    result = cdc.load(warehouse, spec)
    assert _landed(tmp_path / "w.duckdb", my_table) == _source(binlog_mariadb, my_table)
    assert result.deleted == 6
    deleted = len(_landed(tmp_path / "w.duckdb", my_table, live=False)) - 96
    assert deleted == (6 if soft else 0)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()
    assert cursor is not None and cursor[0] == result.cursor and cursor[0].startswith("binlog.")
    _run(binlog_mariadb, f"TRUNCATE TABLE {my_table}", f"INSERT INTO {my_table} (id) VALUES (7)")
    cdc.load(warehouse, spec)
    assert _landed(tmp_path / "w.duckdb", my_table) == _source(binlog_mariadb, my_table)


def test_a_purged_binlog_position_fails_with_the_fix(
    binlog_mariadb: MariaDbServer, my_table: str, tmp_path: Path
) -> None:
    cdc = MysqlCdc(binlog_mariadb.url, "erp", my_table, "test", my_table, soft_delete=True)
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "st"))
    spec = WriteSpec("erp", my_table, "merge", ("id",))
    cdc.load(warehouse, spec)
    before = _landed(tmp_path / "w.duckdb", my_table)
    _run(binlog_mariadb, "FLUSH BINARY LOGS")
    with binlog_mariadb.connect() as con, con.cursor() as cursor:
        cursor.execute("SHOW MASTER STATUS")
        row = cursor.fetchone()
        assert row is not None
        # A file an earlier reader's dump thread still holds is kept until that thread ends.
        for _ in range(100):
            cursor.execute(f"PURGE BINARY LOGS TO '{row[0]}'")
            cursor.execute("SHOW BINARY LOGS")
            if len(cursor.fetchall()) == 1:
                break
            time.sleep(0.1)
    with pytest.raises(BinlogError, match=rf"--full-refresh erp\.{my_table}"):
        cdc.load(warehouse, spec)
    assert _landed(tmp_path / "w.duckdb", my_table) == before


def test_a_mariadb_cdc_table_in_the_catalog_lands_changes(
    binlog_mariadb: MariaDbServer, my_table: str, project: Project
) -> None:
    project.source(
        "erp",
        f"""
        name: erp
        kind: sql
        connection: {binlog_mariadb.url}
        tables:
          - name: orders
            table: test.{my_table}
            primary_key: id
            write: merge
            cdc: true
        """,
    )
    first = project.run("erp")
    assert first.success, first.failures
    _change(binlog_mariadb, my_table)
    second = project.run("erp")
    assert second.success, second.failures
    landed = project.query(f"SELECT {QUOTED} FROM erp.orders WHERE _deleted_at IS NULL ORDER BY id")
    assert landed == _source(binlog_mariadb, my_table)
    assert project.scalar("SELECT count(*) FROM erp.orders WHERE _deleted_at IS NOT NULL") == 6
