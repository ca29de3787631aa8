"""PostgreSQL change data capture: snapshot, then changes applied by key with their LSN."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from dagster import AssetKey

from platform_assets.sql_kind.cdc_postgres import PostgresCdc
from resources.pg_cdc import CdcError, SlotLostError
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from tests.conftest import Project
from tests.servers.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def pg_table(logical_postgres: PostgresServer) -> Iterator[tuple[str, str]]:
    """A fresh table (and nothing else) in the throwaway server: (url, table name)."""
    name = f"cdc19_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(logical_postgres.url, autocommit=True) as con:
        con.execute(
            f"CREATE TABLE {name} (id integer PRIMARY KEY, amount numeric(12,2), "
            "note text, at timestamptz, flags jsonb, ok boolean)"
        )
        con.execute(
            f"INSERT INTO {name} SELECT g, g * 1.25, 'row ' || g, "
            "'2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', "
            "jsonb_build_object('g', g), g % 2 = 0 FROM generate_series(1, 100) g"
        )
    yield logical_postgres.url, name
    with psycopg.connect(logical_postgres.url, autocommit=True) as con:
        con.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name LIKE %s",
            [f"%{name}%"],
        )
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _cdc(url: str, table: str, soft: bool = True) -> PostgresCdc:
    return PostgresCdc(url, "erp", table, "public", table, soft_delete=soft)


def _spec(table: str) -> WriteSpec:
    return WriteSpec("erp", table, "merge", primary_key=("id",))


def _warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "staging"))


def _source_rows(url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as con:
        return con.execute(
            f"SELECT id, amount, note, at, flags::text, ok FROM {table} ORDER BY id"
        ).fetchall()


def _warehouse_rows(tmp_path: Path, table: str, live_only: bool = True) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute(f'DESCRIBE erp."{table}"').fetchall()]
        soft = "_deleted_at" in columns
        where = " WHERE _deleted_at IS NULL" if live_only and soft else ""
        return con.execute(
            f'SELECT id, amount, note, "at", flags::VARCHAR, ok FROM erp."{table}"{where} '
            "ORDER BY id"
        ).fetchall()


def _normalized(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with JSON text compared by value (PostgreSQL's jsonb spacing differs)."""
    import json

    return [(*r[:4], json.loads(r[4]) if r[4] else None, r[5]) for r in rows]


def _change(url: str, table: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"INSERT INTO {table} (id, amount, note) VALUES (1001, 9.99, 'new')")
        con.execute(f"UPDATE {table} SET amount = amount + 1, note = NULL WHERE id <= 10")
        con.execute(f"DELETE FROM {table} WHERE id BETWEEN 11 AND 15")
        with con.transaction():
            con.execute(f"INSERT INTO {table} (id, note) VALUES (1002, 'gone soon')")
            con.execute(f"DELETE FROM {table} WHERE id = 1002")
        con.execute(f"UPDATE {table} SET id = 2000 WHERE id = 20")


def test_snapshot_then_changes_land_exactly_with_soft_deletes(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table), _warehouse(tmp_path)
    first = cdc.load(warehouse, _spec(table))
    assert first.inserted == 100
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))
    _change(url, table)
    second = cdc.load(warehouse, _spec(table))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))
    assert second.deleted == 6  # 11-15 and the old key 20
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        kept = con.execute(
            f'SELECT id, note, amount FROM erp."{table}" WHERE _deleted_at IS NOT NULL ORDER BY id'
        ).fetchall()
        types = dict(con.execute(f'DESCRIBE erp."{table}"').fetchall()[i][:2] for i in range(6))
        cursor = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()
    # soft-deleted rows keep their last values; 1002 came and went within the batch
    assert kept[:6] == [(11, "row 11", Decimal("13.75"))] + [
        (i, f"row {i}", Decimal(i) * Decimal("1.25")) for i in range(12, 16)
    ] + [(20, "row 20", Decimal("25.00"))]
    assert [k[0] for k in kept] == [11, 12, 13, 14, 15, 20, 1002]
    assert types["amount"] == "DECIMAL(12,2)" and types["at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["flags"] == "JSON" and types["ok"] == "BOOLEAN"
    assert cursor is not None and cursor[0] == second.cursor
    # nothing new: an empty batch lands nothing and keeps the position
    third = cdc.load(warehouse, _spec(table))
    assert (third.inserted, third.updated, third.deleted) == (0, 0, 0)
    assert third.reader_metadata["slot_lag_bytes"] >= 0


def test_a_backlog_lands_in_batches_each_committed_then_acknowledged(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = dataclasses.replace(_cdc(url, table), max_changes=10), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    with psycopg.connect(url, autocommit=True) as con:
        for n in range(5):  # five transactions of ten updates: each passes max_changes
            con.execute(
                f"UPDATE {table} SET note = %s WHERE id BETWEEN %s AND %s",
                [f"batch {n}", 1 + 10 * n, 10 + 10 * n],
            )
    result = cdc.load(warehouse, _spec(table))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))
    assert (result.updated, result.reader_metadata["changes_read"]) == (50, 50)
    assert result.reader_metadata["batches"] == 5
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        loads = con.execute(
            "SELECT rows_updated FROM _tributary.loads WHERE status = 'succeeded' "
            "ORDER BY finished_at"
        ).fetchall()
        cursor = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()
    assert [row[0] for row in loads[1:]] == [10] * 5  # one commit per transaction
    with psycopg.connect(url) as con:
        slot = con.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            [cdc.slot],
        ).fetchone()
    assert cursor is not None and slot is not None and slot[0] == cursor[0] == result.cursor


def test_hard_deletes_remove_rows_and_truncate_empties(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table, soft=False), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    _change(url, table)
    cdc.load(warehouse, _spec(table))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute(f'DESCRIBE erp."{table}"').fetchall()]
    assert "_deleted_at" not in columns
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"INSERT INTO {table} (id) VALUES (5000)")
        con.execute(f"TRUNCATE {table}")
        con.execute(f"INSERT INTO {table} (id, note) VALUES (7, 'after')")
    result = cdc.load(warehouse, _spec(table))
    assert _warehouse_rows(tmp_path, table, live_only=False) == [
        (7, None, "after", None, None, None)
    ]
    assert result.deleted >= 95


def test_a_dropped_slot_fails_with_the_fix_and_full_refresh_resnapshots(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("SELECT pg_drop_replication_slot(%s)", [cdc.slot])
        con.execute(f"DELETE FROM {table} WHERE id = 1")
    before = _warehouse_rows(tmp_path, table)
    with pytest.raises(SlotLostError) as failure:
        cdc.load(warehouse, _spec(table))
    message = str(failure.value)
    assert f"replication slot {cdc.slot} does not exist" in message
    assert f"tributary run --full-refresh erp.{table}" in message
    assert "\n" not in message
    assert _warehouse_rows(tmp_path, table) == before  # nothing re-synced on its own
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        recorded = con.execute(
            "SELECT error FROM _tributary.loads WHERE status = 'failed'"
        ).fetchall()
    assert len(recorded) == 1 and "does not exist" in recorded[0][0]
    cdc.load(warehouse, WriteSpec("erp", table, "merge", ("id",), full_refresh=True))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))


def test_an_invalidated_slot_fails_with_the_fix(
    pg_table: tuple[str, str], tmp_path: Path, logical_postgres: PostgresServer
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    # Write more WAL than max_slot_wal_keep_size (64MB) lets the slot hold, then checkpoint.
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE TEMP TABLE filler (t text)")
        for _ in range(12):
            con.execute("SELECT pg_switch_wal()")
            con.execute(
                f"INSERT INTO {table} (id, note) SELECT 100000 + g, repeat('x', 200) "
                "FROM generate_series(1, 40000) g ON CONFLICT (id) DO UPDATE SET note = 'y'"
            )
        con.execute("CHECKPOINT")
        con.execute("SELECT pg_switch_wal()")
        con.execute("CHECKPOINT")
        status = con.execute(
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", [cdc.slot]
        ).fetchone()
    assert status is not None and status[0] == "lost"
    with pytest.raises(SlotLostError, match=r"invalidated .*--full-refresh erp"):
        cdc.load(warehouse, _spec(table))


def test_snapshot_and_stream_meet_under_concurrent_writes(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table, soft=False), _warehouse(tmp_path)
    stop = threading.Event()

    def write() -> None:
        n = 0
        with psycopg.connect(url, autocommit=True) as con:
            while not stop.is_set():
                n += 1
                con.execute(
                    f"INSERT INTO {table} (id, note) VALUES (%s, 'w') ON CONFLICT (id) "
                    "DO UPDATE SET note = excluded.note || 'u'",
                    [10_000 + n % 500],
                )
                con.execute(f"UPDATE {table} SET amount = %s WHERE id = %s", [n, 1 + n % 100])
                if n % 7 == 0:
                    con.execute(f"DELETE FROM {table} WHERE id = %s", [10_000 + (n * 3) % 500])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        cdc.load(warehouse, _spec(table))  # the snapshot, taken while rows change
        for _ in range(3):
            cdc.load(warehouse, _spec(table))
    finally:
        stop.set()
        writer.join()
    cdc.load(warehouse, _spec(table))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))


CRASHING_LOAD = """
import os, signal, sys
from resources import pg_cdc
from platform_assets.sql_kind.cdc_postgres import PostgresCdc
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec

def die(*args, **kwargs):  # the warehouse has committed; the slot is never advanced
    os.kill(os.getpid(), signal.SIGKILL)

pg_cdc.advance = die
url, table, path = sys.argv[1:4]
warehouse = Warehouse(path=path, staging_dir=path + ".staging")
PostgresCdc(url, "erp", table, "public", table, soft_delete=True).load(
    warehouse, WriteSpec("erp", table, "merge", ("id",))
)
"""


def test_kill_between_commit_and_advance_replays_to_an_identical_table(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    _change(url, table)
    path = str(tmp_path / "w.duckdb")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_LOAD, url, table, path], env=env, capture_output=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    with duckdb.connect(path, read_only=True) as con:
        after_crash = con.execute(
            f'SELECT * EXCLUDE (_loaded_at, _load_id) FROM erp."{table}" ORDER BY id'
        ).fetchall()
        cursor = con.execute("SELECT cursor_value FROM _tributary.state").fetchone()
    with psycopg.connect(url) as con:
        slot = con.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            [cdc.slot],
        ).fetchone()
    assert cursor is not None and slot is not None and slot[0] != cursor[0]  # not advanced
    replay = cdc.load(warehouse, _spec(table))
    assert (replay.inserted, replay.updated, replay.deleted) == (0, 0, 0)
    with duckdb.connect(path, read_only=True) as con:
        assert (
            con.execute(
                f'SELECT * EXCLUDE (_loaded_at, _load_id) FROM erp."{table}" ORDER BY id'
            ).fetchall()
            == after_crash
        )
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))


def test_a_cdc_table_in_the_catalog_lands_changes_and_reports_slot_lag(
    pg_table: tuple[str, str], project: Project
) -> None:
    url, table = pg_table
    project.source(
        "erp",
        f"""
        name: erp
        kind: sql
        connection: {url}
        tables:
          - name: orders
            table: public.{table}
            primary_key: id
            write: merge
            cdc: true
            cdc_delete: hard
        """,
    )
    first = project.run("erp")
    assert first.success, first.failures
    _change(url, table)
    report = project.run("erp")
    assert report.success, report.failures
    landed = project.query(
        'SELECT id, amount, note, "at", flags::VARCHAR, ok FROM erp.orders ORDER BY id'
    )
    assert _normalized(landed) == _normalized(_source_rows(url, table))
    event = project.instance.get_latest_materialization_event(AssetKey(["erp", "orders"]))
    assert event is not None and event.asset_materialization is not None
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert metadata["slot"] == "tributary_erp_orders"
    assert isinstance(metadata["slot_lag_bytes"], int) and metadata["slot_lag_bytes"] >= 0
    assert metadata["rows_deleted"] == 6


def test_a_column_added_and_a_type_widened_upstream_reach_the_table(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    cdc, warehouse = _cdc(url, table), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"UPDATE {table} SET note = 'before' WHERE id = 1")
        con.execute(f"ALTER TABLE {table} ADD COLUMN region text")
        con.execute(f"ALTER TABLE {table} ALTER COLUMN amount TYPE numeric(20,4)")
        con.execute(f"UPDATE {table} SET region = 'eu', amount = 12345678.1234 WHERE id = 2")
    result = cdc.load(warehouse, _spec(table))
    changes = {c.column: (c.change, c.new_type) for c in result.schema_changes}
    assert changes == {"region": ("added", "VARCHAR"), "amount": ("widened", "DECIMAL(20,4)")}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute(
            f'SELECT id, note, region, amount FROM erp."{table}" WHERE id <= 2 ORDER BY id'
        ).fetchall()
    assert rows == [
        (1, "before", None, Decimal("1.2500")),
        (2, "row 2", "eu", Decimal("12345678.1234")),
    ]


def test_unchanged_toasted_values_are_kept_or_fail_with_the_fix(
    pg_table: tuple[str, str], tmp_path: Path
) -> None:
    url, table = pg_table
    big = "SELECT string_agg(md5(g::text || random()::text), '') FROM generate_series(1, 300) g"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"UPDATE {table} SET note = ({big}) WHERE id = 1")
    cdc, warehouse = _cdc(url, table), _warehouse(tmp_path)
    cdc.load(warehouse, _spec(table))
    with psycopg.connect(url, autocommit=True) as con:  # in one batch: the full row, then not
        con.execute(f"UPDATE {table} SET note = ({big}) WHERE id = 2")
        con.execute(f"UPDATE {table} SET amount = 7 WHERE id = 2")
    cdc.load(warehouse, _spec(table))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))
    with psycopg.connect(url, autocommit=True) as con:  # the full row only in the snapshot
        con.execute(f"UPDATE {table} SET amount = 8 WHERE id = 1")
    with pytest.raises(CdcError, match=r"column note: .*REPLICA IDENTITY FULL"):
        cdc.load(warehouse, _spec(table))
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    cdc.load(warehouse, WriteSpec("erp", table, "merge", ("id",), full_refresh=True))
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"UPDATE {table} SET amount = 9 WHERE id = 1")
    cdc.load(warehouse, _spec(table))
    assert _normalized(_warehouse_rows(tmp_path, table)) == _normalized(_source_rows(url, table))
