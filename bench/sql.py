"""`python -m bench.sql`: `kind: sql` against DuckDB's own scanner (and, for MariaDB,
connectorx) doing the same read.

A table of 1,000,000 rows x 12 columns (integers, numeric(12,2), text, timestamptz, boolean,
jsonb, a tenth of the values NULL) is written into the machine's PostgreSQL (schema
`tributary_bench_sql`) and MariaDB (database `tributary_bench_sql`), and dropped afterwards
(`BENCH_SQL_NAME` names them otherwise, so that two runs at once do not collide).
Each scenario runs in a process of its own and reports its time (connect to committed table,
imports excluded) and peak RSS:

- `duckdb CTAS`: `CREATE TABLE t AS SELECT * FROM pg.<schema>.t` into a DuckDB file.
- `connectorx CTAS` (MariaDB): `connectorx.read_sql(url, "SELECT * FROM t",
  return_type="arrow")`, then `CREATE TABLE t AS SELECT * FROM` that Arrow table. It lands
  decimals as DECIMAL(38,10) and tinyint(1) as TINYINT; its fingerprint (untimed) casts them
  back to DECIMAL(12,2) and BOOLEAN.
- `tributary full load`: the `kind: sql` path (read into staging, then the commit with
  lineage columns, row hash, load record), `write: replace`.
- `duckdb CTAS 1%` (and `connectorx CTAS 1%` for MariaDB): the same baselines reading only
  the rows changed since a cursor (1%), the filter run by the database.
- `tributary increment 1%`: an incremental `write: merge` load of the same rows into a
  warehouse that holds the whole table.

Each side's rows are fingerprinted (count and a hash of every value as text) and must agree.
Targets: the full load at most 1.2x the time and 1.25x the peak RSS of the faster baseline
(the scanner's CTAS for PostgreSQL; the faster of the scanner and connectorx, by median time,
for MariaDB); the increment at most 2x the scanner's filtered CTAS (connectorx's beside it).

Peak RSS is compared as the memory the timed work took: each scenario's peak above what its
process held once its imports were done. The platform's imports (Dagster among them) hold
about 270 MB where DuckDB's alone hold about 70 MB, which compared whole would measure the
imports, not the load; the whole-process peaks are printed beside.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench.measure import Measurement, peak_rss_mb, reset_peak_rss, run_scenario

ROWS = 1_000_000
NAME = os.environ.get("BENCH_SQL_NAME", "tributary_bench_sql")
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = f"mysql://root@127.0.0.1:3306/{NAME}"
FULL_TIME, FULL_RSS, INCREMENT_TIME = 1.2, 1.25, 2.0
CURSOR = "2026-06-01T00:00:00Z"
"""Rows changed after the full load carry an `updated_at` from here on."""

COLUMNS = [
    "id",
    "customer_id",
    "quantity",
    "amount",
    "discount",
    "name",
    "city",
    "created_at",
    "updated_at",
    "paid",
    "attrs",
    "note",
]

PG_SETUP = f"""
DROP SCHEMA IF EXISTS {NAME} CASCADE;
CREATE SCHEMA {NAME};
CREATE TABLE {NAME}.t AS
SELECT g::bigint AS id,
  CASE WHEN g % 10 = 1 THEN NULL ELSE (g * 7919) % 50000 END::integer AS customer_id,
  CASE WHEN g % 10 = 2 THEN NULL ELSE (g % 17) + 1 END::integer AS quantity,
  CASE WHEN g % 10 = 3 THEN NULL ELSE ((g * 31) % 1000000) / 100.0 END::numeric(12,2) AS amount,
  CASE WHEN g % 10 = 4 THEN NULL ELSE (g % 50) / 100.0 END::numeric(12,2) AS discount,
  CASE WHEN g % 10 = 5 THEN NULL ELSE 'customer ' || (g % 50000) END AS name,
  CASE WHEN g % 10 = 6 THEN NULL ELSE (ARRAY['Paris','Berlin','Lisbon','Oslo'])[g % 4 + 1] END
    AS city,
  CASE WHEN g % 10 = 7 THEN NULL
    ELSE timestamptz '2025-01-01 00:00:00+00' + g * interval '7 seconds' END AS created_at,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '11 seconds' AS updated_at,
  CASE WHEN g % 10 = 8 THEN NULL ELSE g % 3 = 0 END AS paid,
  CASE WHEN g % 10 = 9 THEN NULL
    ELSE jsonb_build_object('channel', (ARRAY['web','app','store'])[g % 3 + 1], 'n', g % 100)
  END AS attrs,
  CASE WHEN g % 10 = 0 THEN NULL ELSE md5(g::text) END AS note
FROM generate_series(1::bigint, {ROWS}) AS g;
ALTER TABLE {NAME}.t ADD PRIMARY KEY (id);
CREATE INDEX ON {NAME}.t (updated_at);
ANALYZE {NAME}.t
"""

MARIADB_CHANGE = [
    f"""UPDATE {NAME}.t SET quantity = coalesce(quantity, 0) + 1,
      updated_at = timestamp '{CURSOR[:-1].replace("T", " ")}' + interval id second
      WHERE id % 100 = 0""",
    f"ANALYZE TABLE {NAME}.t",
]

PG_CHANGE = f"""UPDATE {NAME}.t SET quantity = coalesce(quantity, 0) + 1,
  updated_at = timestamptz '{CURSOR}' + id * interval '1 second' WHERE id % 100 = 0"""

MARIADB_SETUP = [
    f"DROP DATABASE IF EXISTS {NAME}",
    f"CREATE DATABASE {NAME}",
    f"""CREATE TABLE {NAME}.t (id bigint PRIMARY KEY, customer_id int, quantity int,
      amount decimal(12,2), discount decimal(12,2), name text, city varchar(20),
      created_at timestamp(6) NULL, updated_at datetime(6), paid boolean, attrs json, note text,
      KEY (updated_at))""",
    f"""INSERT INTO {NAME}.t SELECT seq,
      IF(seq % 10 = 1, NULL, (seq * 7919) % 50000), IF(seq % 10 = 2, NULL, (seq % 17) + 1),
      IF(seq % 10 = 3, NULL, ((seq * 31) % 1000000) / 100),
      IF(seq % 10 = 4, NULL, (seq % 50) / 100),
      IF(seq % 10 = 5, NULL, concat('customer ', seq % 50000)),
      IF(seq % 10 = 6, NULL, elt(seq % 4 + 1, 'Paris', 'Berlin', 'Lisbon', 'Oslo')),
      IF(seq % 10 = 7, NULL, timestamp '2025-01-01 00:00:00' + interval seq * 7 second),
      timestamp '2025-01-01 00:00:00' + interval seq * 11 second,
      IF(seq % 10 = 8, NULL, seq % 3 = 0),
      IF(seq % 10 = 9, NULL, json_object('channel', elt(seq % 3 + 1, 'web', 'app', 'store'),
        'n', seq % 100)),
      IF(seq % 10 = 0, NULL, md5(seq))
    FROM {NAME}.seq_1_to_{ROWS}""",
]

FINGERPRINT = (
    "SELECT count(*), bit_xor(hash("
    + ", ".join(f"epoch_us({c})" if c.endswith("_at") else f"{c}::VARCHAR" for c in COLUMNS)
    + ")) FROM {table}"
)


CONNECTORX_EXACT = (
    "SELECT * REPLACE (amount::DECIMAL(12,2) AS amount, discount::DECIMAL(12,2) AS discount, "
    "paid::BOOLEAN AS paid) FROM t"
)
"""The connectorx table with the types the source declares (outside the timing)."""


def _since(dialect: str) -> str:
    """The filter of the rows changed since `CURSOR`, as DuckDB reads the scanned column."""
    if dialect == "mysql":
        return f" WHERE updated_at >= TIMESTAMP '{CURSOR[:-1]}'"
    return f" WHERE updated_at >= TIMESTAMPTZ '{CURSOR}'"


def _fingerprint(con: Any, table: str, where: str = "") -> list[Any]:
    row = con.execute(FINGERPRINT.format(table=table) + where).fetchone()
    return [int(row[0]), str(row[1])]


def _ctas(work: Path, dialect: str, increment: bool) -> dict[str, Any]:
    import duckdb

    from resources.duckdb_extensions import load_extension

    floor = reset_peak_rss()
    started = time.perf_counter()
    con = duckdb.connect(str(work / "direct.duckdb"))
    from resources.duckdb_extensions import extension_directory

    load_extension(con, "postgres" if dialect == "postgres" else "mysql", extension_directory())
    if dialect == "postgres":
        con.execute(f"ATTACH '{PG_URL}' AS src (TYPE postgres, READ_ONLY)")
        source = f"src.{NAME}.t"
    else:
        con.execute(
            f"ATTACH 'host=127.0.0.1 port=3306 user=root database={NAME}' AS src "
            "(TYPE mysql, READ_ONLY)"
        )
        source = f"src.{NAME}.t"
    where = _since(dialect) if increment else ""
    con.execute(f"CREATE TABLE t AS SELECT * FROM {source}{where}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "floor_mb": floor, "fingerprint": _fingerprint(con, "t")}


def _connectorx(work: Path, dialect: str, increment: bool) -> dict[str, Any]:
    """connectorx reads the table (the filter in MariaDB's own SQL) into Arrow; DuckDB lands
    it."""
    import connectorx
    import duckdb

    assert dialect == "mysql"
    where = f" WHERE updated_at >= '{CURSOR[:-1].replace('T', ' ')}'" if increment else ""
    floor = reset_peak_rss()
    started = time.perf_counter()
    arrow = connectorx.read_sql(MARIADB_URL, f"SELECT * FROM t{where}", return_type="arrow")
    con = duckdb.connect(str(work / "direct.duckdb"))
    con.register("arrow", arrow)
    con.execute("CREATE TABLE t AS SELECT * FROM arrow")
    seconds = time.perf_counter() - started
    con.execute(f"CREATE VIEW exact AS {CONNECTORX_EXACT}")
    return {"seconds": seconds, "floor_mb": floor, "fingerprint": _fingerprint(con, "exact")}


def _tributary(work: Path, dialect: str, increment: bool) -> dict[str, Any]:
    import duckdb

    from platform_assets.sql_kind.assets import SqlReader, _extract, table_write_spec
    from platform_assets.sql_kind.config import SqlSource
    from resources.duckdb_extensions import extension_directory
    from resources.warehouse import Warehouse

    url = PG_URL if dialect == "postgres" else MARIADB_URL
    table: dict[str, Any] = {
        "name": "t",
        "table": f"{NAME}.t",
        "write": "replace",
    }
    if increment:
        table |= {
            "write": "merge",
            "primary_key": "id",
            "incremental": {"cursor_field": "updated_at"},
        }
    source = SqlSource.model_validate(
        {"name": "bench", "kind": "sql", "connection": url, "tables": [table]}
    )
    config = source.tables[0]
    warehouse = Warehouse(path=str(work / "warehouse.duckdb"), staging_dir=str(work / "staging"))
    reader = SqlReader(extension_dir=str(extension_directory()), root=str(work))
    spec = table_write_spec(source, config)
    if increment:  # the whole table and its cursor, as a first load leaves them (untimed)
        seed = work / "seed.duckdb"
        shutil.copy(seed, warehouse.file)
    floor = reset_peak_rss()
    started = time.perf_counter()
    with warehouse.load(source.name, config.name) as load:
        cursor = _extract(reader, source, config)(load)
        result = load.commit(spec, cursor)
    seconds = time.perf_counter() - started
    with duckdb.connect(str(warehouse.file), read_only=True) as con:
        fingerprint = _fingerprint(con, "bench.t", _since(dialect) if increment else "")
    return {
        "seconds": seconds,
        "floor_mb": floor,
        "fingerprint": fingerprint,
        "rows_in": result.rows_in,
        "updated": result.updated,
    }


def _seed(work: Path, dialect: str) -> None:
    """A warehouse holding the table before the change, with its cursor at the change."""
    import duckdb

    from platform_assets.sql_kind.assets import SqlReader, _extract, table_write_spec
    from platform_assets.sql_kind.config import SqlSource
    from resources.duckdb_extensions import extension_directory
    from resources.warehouse import Warehouse

    url = PG_URL if dialect == "postgres" else MARIADB_URL
    source = SqlSource.model_validate(
        {
            "name": "bench",
            "kind": "sql",
            "connection": url,
            "tables": [
                {
                    "name": "t",
                    "table": f"{NAME}.t",
                    "write": "merge",
                    "primary_key": "id",
                    "incremental": {"cursor_field": "updated_at"},
                }
            ],
        }
    )
    config = source.tables[0]
    warehouse = Warehouse(path=str(work / "seed.duckdb"), staging_dir=str(work / "staging"))
    reader = SqlReader(extension_dir=str(extension_directory()), root=str(work))
    with warehouse.load(source.name, config.name) as load:
        _extract(reader, source, config)(load)
        load.commit(table_write_spec(source, config), CURSOR)
    with duckdb.connect(str(warehouse.file)) as con:
        con.execute("CHECKPOINT")


def _scenario(name: str, dialect: str, work: Path) -> None:
    increment = name.endswith("increment")
    run = {"ctas": _ctas, "connectorx": _connectorx}.get(name.split("-")[0], _tributary)
    target = work / f"{name}-{time.monotonic_ns()}"
    target.mkdir(parents=True)
    if increment and run is _tributary:
        shutil.copy(work / "seed.duckdb", target / "seed.duckdb")
    try:
        detail = run(target, dialect, increment)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    print(json.dumps({**detail, "peak_rss_mb": peak_rss_mb()}))


def _setup_postgres() -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as con:
        for statement in PG_SETUP.split(";"):
            if statement.strip():
                con.execute(statement)  # type: ignore[arg-type]


def _change_postgres() -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(PG_CHANGE)  # type: ignore[arg-type]
        con.execute(f"ANALYZE {NAME}.t")  # type: ignore[arg-type]


def _mariadb(statements: list[str]) -> None:
    import pymysql

    con = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with con.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        con.close()


def _teardown() -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {NAME} CASCADE")  # type: ignore[arg-type]
    with contextlib.suppress(Exception):
        _mariadb([f"DROP DATABASE IF EXISTS {NAME}"])


def _measure(label: str, name: str, dialect: str, work: Path) -> Measurement:
    return run_scenario(
        label, "bench.sql", "--scenario", name, "--dialect", dialect, "--work", str(work)
    )


def _round(
    work: Path, dialect: str, scenarios: list[tuple[str, str]], round_: int
) -> dict[str, Measurement]:
    """One round of every scenario, the order turned by one from round to round."""
    shift = round_ % len(scenarios)
    order = scenarios[shift:] + scenarios[:shift]
    return {name: _measure(label, name, dialect, work) for label, name in order}


def _work_rss(m: Measurement) -> float:
    """The peak RSS the timed work took, in MB: above what the process held after its imports."""
    return m.peak_rss_mb - float(str(m.detail["floor_mb"]))


def _compare(
    rows: list[list[str]],
    problems: list[str],
    what: str,
    rounds: list[dict[str, Measurement]],
    baselines: list[str],
    ours: str,
    time_target: float,
    rss_target: float | None,
    target: str | None = None,
) -> None:
    """Median ratios over the rounds (each round's own beside them) to every baseline; the
    target holds against `target`, or else the faster baseline (by median time). The rows must
    all agree."""
    for measured in rounds:
        for baseline in baselines:
            assert (
                measured[ours].detail["fingerprint"] == measured[baseline].detail["fingerprint"]
            ), (
                f"{what}: the rows differ from {baseline}: {measured[ours].detail['fingerprint']}"
                f" vs {measured[baseline].detail['fingerprint']}"
            )
    for n, measured in enumerate(rounds, start=1):
        for name in [*baselines, ours]:
            m = measured[name]
            rss = f"{_work_rss(m):.0f} (process {m.peak_rss_mb:.0f})"
            rows.append([what, f"{m.name} (round {n})", f"{m.seconds:.2f}", rss])
    faster = target or min(baselines, key=lambda b: statistics.median(r[b].seconds for r in rounds))
    for baseline in baselines:
        times = [r[ours].seconds / r[baseline].seconds for r in rounds]
        memory = [_work_rss(r[ours]) / _work_rss(r[baseline]) for r in rounds]
        time_ratio, rss_ratio = statistics.median(times), statistics.median(memory)
        label = rounds[0][baseline].name
        verdict = f"time {time_ratio:.2f}x"
        if baseline == faster:
            verdict += f" (<= {time_target}x)"
            if time_ratio > time_target:
                problems.append(f"{what} time")
                verdict += " OVER"
        verdict += f", peak RSS {rss_ratio:.2f}x"
        if baseline == faster and rss_target is not None:
            verdict += f" (<= {rss_target}x)"
            if rss_ratio > rss_target:
                problems.append(f"{what} RSS")
                verdict += " OVER"
        each = ", ".join(f"{t:.2f}x" for t in times)
        target_of = "target" if baseline == faster else "for reference"
        rows.append(
            [what, f"median ratio to {label} ({target_of})", f"{verdict}; rounds: {each}", ""]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario")
    parser.add_argument("--dialect", choices=["postgres", "mysql"], default="postgres")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", choices=["postgres", "mysql"], help="bench one database (default: both)"
    )
    args = parser.parse_args()
    if args.scenario:
        if args.scenario == "seed":
            _seed(args.work, args.dialect)
            print(json.dumps({"seconds": 0, "peak_rss_mb": peak_rss_mb()}))
            return
        _scenario(args.scenario, args.dialect, args.work)
        return

    dialects = [args.only] if args.only else ["postgres", "mysql"]
    work = Path(tempfile.mkdtemp(prefix="bench-sql-"))
    rows: list[list[str]] = []
    problems: list[str] = []
    try:
        for dialect in dialects:
            _bench(dialect, work, args.rounds, rows, problems)
    finally:
        _teardown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{ROWS:,} rows x {len(COLUMNS)} columns")
    print(tabulate(rows, headers=["load", "scenario", "seconds", "peak RSS MB: work (process)"]))
    if problems:
        sys.exit(f"bench.sql: {', '.join(problems)} over target")


def _bench(
    dialect: str, work: Path, rounds: int, rows: list[list[str]], problems: list[str]
) -> None:
    """The full load and the 1% increment from one database, against its baselines."""
    label = "PostgreSQL" if dialect == "postgres" else "MariaDB"
    full = [("duckdb CTAS", "ctas")]
    increment = [("duckdb CTAS 1%", "ctas-increment")]
    if dialect == "mysql":
        _mariadb(MARIADB_SETUP)
        full.append(("connectorx CTAS", "connectorx"))
        increment.append(("connectorx CTAS 1%", "connectorx-increment"))
    else:
        _setup_postgres()
    scenarios = [*full, ("tributary full load", "full")]
    measured = [_round(work, dialect, scenarios, n) for n in range(rounds)]
    baselines = [name for _, name in full]
    _compare(rows, problems, f"{label} full", measured, baselines, "full", FULL_TIME, FULL_RSS)
    seed = work / "seed.duckdb"
    seed.unlink(missing_ok=True)
    _measure("seed", "seed", dialect, work)
    if dialect == "mysql":
        _mariadb(MARIADB_CHANGE)
    else:
        _change_postgres()
    scenarios = [*increment, ("tributary increment 1%", "full-increment")]
    measured = [_round(work, dialect, scenarios, n) for n in range(rounds)]
    for each in measured:
        assert each["full-increment"].detail["rows_in"] == ROWS // 100, each
    baselines = [name for _, name in increment]
    _compare(
        rows,
        problems,
        f"{label} 1%",
        measured,
        baselines,
        "full-increment",
        INCREMENT_TIME,
        None,
        target="ctas-increment",
    )


if __name__ == "__main__":
    main()
