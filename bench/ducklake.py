"""`python -m bench.ducklake`: a DuckLake warehouse (catalog in the local PostgreSQL, Parquet data
in a temporary folder) against itself and against the DuckDB-file warehouse.

- `two sources, one after the other` / `two sources at once`: each source fetches 10 pages of
  100,000 generated rows (7 columns) from an API that answers each page after 0.1 s, stages them,
  and commits them (append) into a table of its own, in a process of its own. Timed from the first
  source's start to the last commit (process start-up and imports left out, as elsewhere).
- `5M-row file, DuckDB file` / `5M-row file, DuckLake`: bench/generate's 5M-row x 12-column CSV,
  read once by the commit (`Load.scan`, replace) into each warehouse.

Targets: two sources at once take at most 0.6x the time of one after the other, with no failed
commit and the two commits overlapping in time (the lake does not serialize them); the 5M-row
load into the lake takes at most 1.5x the DuckDB file's.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from tabulate import tabulate

from bench.generate import ensure_inputs
from bench.measure import peak_rss_mb
from resources.duckdb_sql import literal
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec

POSTGRES = "host=127.0.0.1 port=5432 user=postgres"
PAGES, PAGE_ROWS, PAGE_SECONDS = 10, 100_000, 0.1
FILE_ROWS = 5_000_000
PARALLEL_TARGET, FILE_TARGET = 0.6, 1.5


def lake_warehouse(work: Path, database: str) -> Warehouse:
    return Warehouse(
        path=f"ducklake:postgres:dbname={database} {POSTGRES}",
        data_path=str(work / "lake") + "/",
        staging_dir=str(work / "stage"),
    )


def pages(first: int) -> Iterator[pa.Table]:
    """The API's pages: `PAGE_ROWS` rows each, answered after `PAGE_SECONDS`."""
    for page in range(PAGES):
        time.sleep(PAGE_SECONDS)
        ids = pa.array(range(first + page * PAGE_ROWS, first + (page + 1) * PAGE_ROWS), pa.int64())
        mixed = pc.bit_wise_and(pc.multiply(ids, 2_654_435_761), 0xFFFFFF)
        yield pa.table(
            {
                "id": ids,
                "user_id": pc.bit_wise_and(mixed, 0xFFFF),
                "amount": pc.divide(pc.cast(pc.bit_wise_and(mixed, 0x3FFF), pa.float64()), 100),
                "quantity": pc.cast(pc.bit_wise_and(mixed, 15), pa.int32()),
                "country": pc.take(pa.array(["FR", "DE", "NL", "BE"]), pc.bit_wise_and(mixed, 3)),
                "flag": pc.equal(pc.bit_wise_and(mixed, 1), 1),
                "note": pc.binary_join_element_wise("order ", pc.cast(ids, pa.string()), ""),
            }
        )


def source(work: str, database: str, table: str) -> None:
    """One source in its own process: fetch, stage, commit. Prints its commit's window."""
    warehouse = lake_warehouse(Path(work), database)
    started = time.time()
    with warehouse.load("bench", table) as load:
        load.stage(pages(0))
        asked = time.time()
        result = load.commit(WriteSpec("bench", table, "append"))
    print(
        json.dumps(
            {
                "seconds": time.time() - started,
                "started": started,
                "commit_from": asked,
                "commit_to": time.time(),
                "rows": result.inserted,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def file_load(work: str, database: str, backend: str) -> None:
    """The 5M-row CSV, read by the commit into a DuckDB file or the lake (replace)."""
    csv_path, _ = ensure_inputs(FILE_ROWS)
    root = Path(work)
    warehouse = (
        lake_warehouse(root, database)
        if backend == "ducklake"
        else Warehouse(path=str(root / "w.duckdb"), staging_dir=str(root / "stage"))
    )
    started = time.perf_counter()
    with warehouse.load("bench", "orders") as load:
        load.scan(f"SELECT * FROM read_csv({literal(str(csv_path))})")
        result = load.commit(WriteSpec("bench", "orders", "replace"))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": result.inserted, "peak_rss_mb": peak_rss_mb()}))


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.ducklake", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, float]:
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{process.args} failed:\n{err[-3000:]}")
    detail: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return detail


def sources(
    work: Path, database: str, tables: list[str], at_once: bool
) -> tuple[float, list[dict[str, float]]]:
    """The time the sources `tables` take, run at once or one after the other, and their
    reports: from the first source's start to the last one's commit, without the processes'
    start-up (imports), as the other benchmarks leave it out."""
    if at_once:
        running = [_child("source", str(work), database, t) for t in tables]
        results = [_result(p) for p in running]
        return max(r["commit_to"] for r in results) - min(r["started"] for r in results), results
    results = [_result(_child("source", str(work), database, t)) for t in tables]
    return sum(r["seconds"] for r in results), results


def bench(rounds: int) -> int:
    database = f"tributary_bench_lake_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES} dbname=postgres", autocommit=True) as pg:
        pg.execute(f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ducklake-") as folder:
            return _bench(Path(folder), database, rounds)
    finally:
        with psycopg.connect(f"{POSTGRES} dbname=postgres", autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _bench(work: Path, database: str, rounds: int) -> int:
    ensure_inputs(FILE_ROWS)
    _result(_child("source", str(work), database, "warmup"))  # the lake's catalog, made once
    sequential, parallel, overlaps = [], [], []
    for n in range(rounds):
        seconds, _ = sources(work, database, [f"s{n}_a", f"s{n}_b"], at_once=False)
        sequential.append(seconds)
        seconds, results = sources(work, database, [f"p{n}_a", f"p{n}_b"], at_once=True)
        parallel.append(seconds)
        first, second = sorted(results, key=lambda r: r["commit_from"])
        overlaps.append(second["commit_from"] < first["commit_to"])
    file_seconds = [
        _result(_child("file", str(work / f"file{n}"), database, "duckdb"))["seconds"]
        for n in range(rounds)
    ]
    lake_seconds = [
        _result(_child("file", str(work), database, "ducklake"))["seconds"] for _ in range(rounds)
    ]
    lake = lake_warehouse(work, database)
    with lake.read_only() as con:
        failed = con.execute(
            "SELECT count(*) FROM _tributary.loads WHERE status <> 'succeeded'"
        ).fetchone()
        loads = con.execute("SELECT count(*) FROM _tributary.loads").fetchone()
    failures = int(failed[0]) if failed else -1
    seq, par = median(sequential), median(parallel)
    filed, laked = median(file_seconds), median(lake_seconds)
    rows = [
        ["two sources, one after the other", f"{seq:.2f}", "1.00", ""],
        ["two sources at once", f"{par:.2f}", f"{par / seq:.2f}", f"<= {PARALLEL_TARGET}"],
        ["5M-row file, DuckDB file", f"{filed:.2f}", "1.00", ""],
        ["5M-row file, DuckLake", f"{laked:.2f}", f"{laked / filed:.2f}", f"<= {FILE_TARGET}"],
    ]
    print(tabulate(rows, headers=["scenario", "seconds (median)", "ratio", "target"]))
    print(
        f"rounds: {rounds}; loads recorded: {loads[0] if loads else '?'}, not succeeded: "
        f"{failures}; commits overlapped in {sum(overlaps)}/{rounds} rounds"
    )
    problems = []
    if par / seq > PARALLEL_TARGET:
        problems.append(f"two sources at once took {par / seq:.2f}x (> {PARALLEL_TARGET}x)")
    if failures != 0:
        problems.append(f"{failures} loads did not succeed")
    if not all(overlaps):
        problems.append("the two commits did not overlap in every round")
    if laked / filed > FILE_TARGET:
        problems.append(f"the 5M-row load took {laked / filed:.2f}x (> {FILE_TARGET}x)")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    sub = parser.add_subparsers(dest="scenario")
    one = sub.add_parser("source")
    one.add_argument("work")
    one.add_argument("database")
    one.add_argument("table")
    big = sub.add_parser("file")
    big.add_argument("work")
    big.add_argument("database")
    big.add_argument("backend", choices=["duckdb", "ducklake"])
    args = parser.parse_args()
    if args.scenario == "source":
        source(args.work, args.database, args.table)
    elif args.scenario == "file":
        file_load(args.work, args.database, args.backend)
    else:
        sys.exit(bench(args.rounds))


if __name__ == "__main__":
    main()
