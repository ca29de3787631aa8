"""`python -m bench.cdc`: PostgreSQL change capture into the warehouse, against a raw read of
the same changes from a replication slot.

A throwaway PostgreSQL server (`wal_level=logical`, started from the installed binaries under a
temporary directory) holds a 12-column table (bigint key, ints, numeric(12,2), text,
timestamptz, date, boolean, double, jsonb; about 10% nulls), first loaded as the CDC snapshot.
Each round then makes `--changes` row changes (60% inserts, 30% updates, 10% deletes, in
transactions of 10,000 rows) and times, on the same changes:

- `raw read`: `pg_logical_slot_get_binary_changes` of a second pgoutput slot created at the
  CDC slot's position, every message fetched into Python: what any consumer pays to read them.
- `tributary cdc`: one CDC load: peek, decode, fold per key, stage, one warehouse transaction
  with the LSN as cursor, then the slot advance.

After each round the warehouse table must equal the source table, value for value.
Target: at least 80,000 applied changes per second.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from tabulate import tabulate

from platform_assets.sql_kind.cdc_postgres import PostgresCdc
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from tests.servers.postgres import PostgresServer

TARGET_PER_SECOND = 80_000
TABLE = "orders"
INITIAL_ROWS = 200_000
TRANSACTION_ROWS = 10_000
COLUMNS = (
    "id, customer_id, quantity, amount, status, note, created_at, updated_at, day, paid, "
    "score, attrs"
)

_ROWS = """
SELECT g, (g * 7919) %% 50000, (g %% 20)::smallint, ((g * 31) %% 100000) / 100.0,
       (ARRAY['new','paid','shipped','returned'])[1 + g %% 4],
       CASE WHEN g %% 10 = 0 THEN NULL ELSE 'order note ' || g END,
       '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 second',
       CASE WHEN g %% 10 = 1 THEN NULL
            ELSE '2026-01-01 00:00:00+00'::timestamptz + g * interval '2 seconds' END,
       DATE '2026-01-01' + (g %% 365)::int, g %% 3 = 0,
       CASE WHEN g %% 10 = 2 THEN NULL ELSE g / 7.0 END,
       CASE WHEN g %% 10 = 3 THEN NULL ELSE jsonb_build_object('g', g, 'tag', 't' || g %% 9) END
FROM generate_series(%s::bigint, %s::bigint) g
"""


def _create(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, customer_id integer, "
            "quantity smallint, amount numeric(12,2), status text, note text, "
            "created_at timestamptz, updated_at timestamptz, day date, paid boolean, "
            "score double precision, attrs jsonb)"
        )
        con.execute(f"INSERT INTO {TABLE} ({COLUMNS}) {_ROWS}", [1, INITIAL_ROWS])


def _make_changes(url: str, start: int, changes: int) -> int:
    """`changes` row changes from key `start` on; returns the next free key."""
    inserts, updates = changes * 6 // 10, changes * 3 // 10
    deletes = changes - inserts - updates
    with psycopg.connect(url, autocommit=True) as con:
        for low in range(start, start + inserts, TRANSACTION_ROWS):
            high = min(low + TRANSACTION_ROWS, start + inserts) - 1
            con.execute(f"INSERT INTO {TABLE} ({COLUMNS}) {_ROWS}", [low, high])
        oldest = start - INITIAL_ROWS  # rows still there from earlier rounds
        for low in range(oldest + deletes, oldest + deletes + updates, TRANSACTION_ROWS):
            high = min(low + TRANSACTION_ROWS, oldest + deletes + updates) - 1
            con.execute(
                f"UPDATE {TABLE} SET amount = amount + 1, status = 'changed', "
                "updated_at = updated_at + interval '1 day' WHERE id BETWEEN %s AND %s",
                [low, high],
            )
        for low in range(oldest, oldest + deletes, TRANSACTION_ROWS):
            high = min(low + TRANSACTION_ROWS, oldest + deletes) - 1
            con.execute(f"DELETE FROM {TABLE} WHERE id BETWEEN %s AND %s", [low, high])
    return start + inserts


def _raw_read(url: str, slot: str, publication: str) -> tuple[float, int]:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as con:
        cursor = con.cursor(binary=True)
        cursor.execute(
            "SELECT data FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
            "'proto_version', '1', 'publication_names', %s)",
            [slot, publication],
        )
        messages = [bytes(row[0]) for row in cursor.fetchall()]
    seconds = time.perf_counter() - started
    rows = sum(1 for m in messages if m[:1] in (b"I", b"U", b"D"))
    return seconds, rows


def _normalized(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(*r[:-1], json.loads(r[-1]) if isinstance(r[-1], str) else r[-1]) for r in rows]


def _assert_equal(url: str, path: Path) -> int:
    with psycopg.connect(url) as con:
        source = con.execute(f"SELECT {COLUMNS} FROM {TABLE} ORDER BY id").fetchall()
    with duckdb.connect(str(path), read_only=True) as con:
        landed = con.execute(
            f"SELECT {COLUMNS.replace('attrs', 'attrs::VARCHAR')} FROM erp.{TABLE} ORDER BY id"
        ).fetchall()
    if _normalized(source) != _normalized(landed):
        sys.exit(f"bench.cdc: the warehouse differs from the source ({len(landed)} rows landed)")
    return len(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = PostgresServer.start(max_slot_wal_keep_size="-1")
    work = Path(tempfile.mkdtemp(prefix="bench-cdc-"))
    try:
        _create(server.url)
        cdc = PostgresCdc(server.url, "erp", TABLE, "public", TABLE, soft_delete=False)
        warehouse = Warehouse(path=str(work / "w.duckdb"), staging_dir=str(work / "staging"))
        spec = WriteSpec("erp", TABLE, "merge", primary_key=("id",))
        cdc.load(warehouse, spec)  # the snapshot
        following, rounds = INITIAL_ROWS + 1, []
        for n in range(args.rounds):
            raw_slot = f"bench_raw_{n}"
            with psycopg.connect(server.url, autocommit=True) as con:
                con.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [raw_slot])
            following = _make_changes(server.url, following, args.changes)
            raw_seconds, raw_rows = _raw_read(server.url, raw_slot, cdc.publication)
            started = time.perf_counter()
            result = cdc.load(warehouse, spec)
            seconds = time.perf_counter() - started
            applied = int(result.reader_metadata["changes_read"])
            if applied != raw_rows or applied != args.changes:
                sys.exit(f"bench.cdc: read {applied} changes, raw read {raw_rows}")
            rows = _assert_equal(server.url, work / "w.duckdb")
            with psycopg.connect(server.url, autocommit=True) as con:
                con.execute("SELECT pg_drop_replication_slot(%s)", [raw_slot])
            rounds.append((raw_seconds, seconds, rows, result))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = []
    for n, (raw, seconds, rows, result) in enumerate(rounds, 1):
        table.append(
            [
                n,
                f"{raw:.2f}",
                f"{args.changes / raw:,.0f}",
                f"{seconds:.2f}",
                f"{args.changes / seconds:,.0f}",
                f"{seconds / raw:.2f}x",
                f"{result.inserted}/{result.updated}/{result.deleted}",
                rows,
            ]
        )
    print(f"{args.changes:,} row changes per round (60% inserts, 30% updates, 10% deletes)")
    print(
        tabulate(
            table,
            headers=[
                "round",
                "raw read s",
                "raw changes/s",
                "tributary s",
                "applied changes/s",
                "time ratio",
                "ins/upd/del",
                "rows equal",
            ],
        )
    )
    per_second = statistics.median(args.changes / r[1] for r in rounds)
    ratio = statistics.median(r[1] / r[0] for r in rounds)
    print(
        f"median: {per_second:,.0f} applied changes/s (target >= {TARGET_PER_SECOND:,}), "
        f"{ratio:.2f}x the raw slot read of the same changes"
    )
    if per_second < TARGET_PER_SECOND:
        sys.exit("bench.cdc: OVER target (fewer applied changes per second than the target)")


if __name__ == "__main__":
    main()
