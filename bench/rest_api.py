"""`python -m bench.rest_api [--rounds R]`: a paginated REST API into DuckDB, against a plain
concurrent fetch doing the same requests.

A local API on 127.0.0.1 serves 100,000 records in 200 pages of 500, each record with a nested
object, 50 ms of latency per request. Each scenario runs in a process of its own and reports its
time (fetch to committed table, imports excluded) and peak RSS:

- `requests + polars`: page 1 (which tells how many pages there are), then pages 2-200 on 16
  threads of `requests`, `polars` to flatten, one DuckDB CREATE TABLE.
- `tributary reader`: the `kind: rest` path (reader, staging, merge commit), page 1 then the rest
  on 16 workers.
- `tributary via dagster`: the same source materialized through Dagster (start-up included).

The API counts the requests of each scenario: every side must ask for each page exactly once, and
land every record once. Each round runs the three back to back; ratios are taken within a round,
and the median over rounds is reported beside each round's own.

Targets: the reader at most 1.5x the plain fetch, peak RSS at most 400 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tabulate import tabulate

from bench.measure import Measurement, peak_rss_mb, run_scenario

RECORDS, PAGE_SIZE, LATENCY, WORKERS = 100_000, 500, 0.05, 16
RATIO_TARGET, RSS_TARGET_MB = 1.5, 400
PAGES = RECORDS // PAGE_SIZE


def _pages() -> list[bytes]:
    pages = []
    for page in range(RECORDS // PAGE_SIZE):
        first = page * PAGE_SIZE
        data = [
            {
                "id": i,
                "name": f"record {i}",
                "amount": round(i * 0.37, 2),
                "created_at": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "customer": {"id": i % 997, "country": "DE" if i % 3 else "FR", "vip": i % 7 == 0},
            }
            for i in range(first, first + PAGE_SIZE)
        ]
        pages.append(json.dumps({"total": RECORDS, "page": page + 1, "data": data}).encode())
    return pages


class Requests:
    """How many times each page was asked for, across the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: Counter[int] = Counter()

    def add(self, page: int) -> None:
        with self._lock:
            self._pages[page] += 1

    def take(self) -> Counter[int]:
        """The counts so far, and start again from none."""
        with self._lock:
            taken, self._pages = self._pages, Counter()
        return taken


def serve(requests: Requests) -> ThreadingHTTPServer:
    pages = _pages()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            number = int(query.get("page", ["1"])[0])
            requests.add(number)
            body = pages[number - 1]
            time.sleep(LATENCY)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def baseline(url: str, work: Path) -> tuple[int, float, float]:
    from concurrent.futures import ThreadPoolExecutor

    import duckdb
    import polars as pl
    import requests

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=WORKERS, pool_maxsize=WORKERS)
    session.mount("http://", adapter)

    def frame(body: Any) -> pl.DataFrame:
        return pl.DataFrame(body["data"]).unnest("customer", separator="__")

    def page(number: int) -> pl.DataFrame:
        return frame(session.get(url, params={"page": number}, timeout=30).json())

    started = time.perf_counter()
    first = session.get(url, params={"page": 1}, timeout=30).json()
    pages = -(-int(first["total"]) // len(first["data"]))
    with ThreadPoolExecutor(WORKERS) as pool:
        frames = [frame(first), *pool.map(page, range(2, pages + 1))]
    database = work / "baseline.duckdb"
    with duckdb.connect(str(database)) as con:
        con.register("records_frame", pl.concat(frames, how="diagonal_relaxed").to_arrow())
        con.execute("CREATE TABLE records AS SELECT * FROM records_frame")
    seconds, peak = time.perf_counter() - started, peak_rss_mb()
    return _landed(database, "records"), seconds, peak


def _landed(database: Path, table: str) -> int:
    """The distinct records `table` holds; each must be there once."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone()
    assert row is not None
    if row[0] != row[1]:
        raise AssertionError(f"{table} holds {row[0]} rows of {row[1]} records")
    return int(row[0])


def _source(url: str) -> Any:
    from platform_assets.rest_kind.config import RestSource

    return RestSource.model_validate(
        {
            "name": "bench",
            "kind": "rest",
            "client": {"base_url": url, "max_workers": WORKERS},
            "tables": [
                {
                    "name": "records",
                    "endpoint": {
                        "path": "/records",
                        "records": "$.data",
                        "paginator": {
                            "type": "page_number",
                            "total_path": "total",
                            "total_counts": "records",
                        },
                    },
                    "primary_key": "id",
                    "write": "merge",
                }
            ],
        }
    )


def tributary(url: str, work: Path) -> tuple[int, float, float]:
    from platform_assets.rest_kind.assets import load_rest_table
    from platform_assets.rest_kind.reader import RestReader
    from resources.warehouse import Warehouse

    started = time.perf_counter()
    source = _source(url)
    warehouse = Warehouse(path=str(work / "w.duckdb"), staging_dir=str(work / "staging"))
    reader = RestReader(cache_dir=str(work / "cache"))
    client = reader.client(source)
    loaded = load_rest_table(warehouse, reader, client, source, source.tables[0])
    seconds, peak = time.perf_counter() - started, peak_rss_mb()
    landed = _landed(work / "w.duckdb", "bench.records")
    if loaded.result.rows_in != landed:
        raise AssertionError(f"the load reported {loaded.result.rows_in} rows, landed {landed}")
    return landed, seconds, peak


def dagster(url: str, work: Path) -> tuple[int, float, float]:
    started = time.perf_counter()
    from dagster import DagsterInstance, materialize

    from platform_assets.rest_kind.assets import build_rest_assets
    from platform_assets.rest_kind.reader import RestReader
    from resources.warehouse import Warehouse

    assets = build_rest_assets(_source(url))
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [assets],
            instance=instance,
            resources={
                "warehouse": Warehouse(path=str(work / "d.duckdb"), staging_dir=str(work / "s")),
                "rest": RestReader(cache_dir=str(work / "cache")),
            },
        )
    seconds, peak = time.perf_counter() - started, peak_rss_mb()
    materialized = result.asset_materializations_for_node("bench")
    rows = int(str(materialized[0].metadata["rows_in"].value)) if materialized else 0
    landed = _landed(work / "d.duckdb", "bench.records")
    if rows != landed:
        raise AssertionError(f"the load reported {rows} rows, landed {landed}")
    return landed, seconds, peak


SCENARIOS = {"baseline": baseline, "tributary": tributary, "dagster": dagster}


SIDES = (
    ("requests + polars, 16 threads (baseline)", "baseline"),
    ("tributary reader, 16 workers", "tributary"),
    ("tributary via dagster, 16 workers", "dagster"),
)


def scenario(name: str, url: str, work: str) -> None:
    rows, seconds, peak = SCENARIOS[name](url, Path(work))
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak}))


def _round(url: str, work: Path, requests: Requests) -> list[Measurement]:
    """The three sides back to back, each checked for asking every page once and landing every
    record once."""
    runs = []
    for label, name in SIDES:
        (work / name).mkdir()
        requests.take()
        measured = run_scenario(label, "bench.rest_api", "scenario", name, url, str(work / name))
        asked = requests.take()
        if asked != Counter(range(1, PAGES + 1)):
            twice = sorted(p for p, n in asked.items() if n > 1)
            missed = sorted(set(range(1, PAGES + 1)) - set(asked))
            raise AssertionError(f"{label}: pages asked twice {twice}, never {missed}")
        if measured.detail["rows"] != RECORDS:
            raise AssertionError(f"{label}: landed {measured.detail['rows']} of {RECORDS} records")
        runs.append(measured)
        shutil.rmtree(work / name)
    return runs


def main(rounds: int) -> None:
    requests = Requests()
    server = serve(requests)
    url = f"http://127.0.0.1:{server.server_address[1]}/records"
    work = Path(tempfile.mkdtemp(prefix="tributary-rest-bench-"))
    by_side: list[list[Measurement]] = [[] for _ in SIDES]
    try:
        for _ in range(rounds):
            for runs, measured in zip(by_side, _round(url, work, requests), strict=True):
                runs.append(measured)
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    bases = by_side[0]
    rows, lines = [], []
    for (label, name), runs in zip(SIDES, by_side, strict=True):
        ratios = [m.seconds / b.seconds for m, b in zip(runs, bases, strict=True)]
        ratio = statistics.median(ratios)
        peak = max(m.peak_rss_mb for m in runs)
        verdict = ""
        if name == "tributary":
            ok = ratio <= RATIO_TARGET and peak <= RSS_TARGET_MB
            verdict = (
                f"ok (≤ {RATIO_TARGET}x, {RSS_TARGET_MB} MB)"
                if ok
                else f"OVER (target ≤ {RATIO_TARGET}x, {RSS_TARGET_MB} MB)"
            )
            mark = "" if ok else "   <-- OVER"
            lines.append(
                f"{label} vs {SIDES[0][0]}, the same {PAGES} requests: {ratio:.2f}x "
                f"(target ≤ {RATIO_TARGET}x), peak {peak:.0f} MB (target ≤ {RSS_TARGET_MB}){mark}"
            )
        rows.append(
            [
                label,
                f"{runs[-1].detail['rows']:,}",
                f"{statistics.median(m.seconds for m in runs):.2f}",
                f"{ratio:.2f}x",
                " ".join(f"{r:.2f}" for r in ratios),
                f"{peak:.0f}",
                verdict,
            ]
        )
    headers = [
        "scenario",
        "records landed",
        "median s",
        "ratio",
        "each round's ratio",
        "peak RSS MB",
        "target",
    ]
    print(
        f"{RECORDS:,} records, {PAGES} pages of {PAGE_SIZE}, {LATENCY * 1000:.0f} ms per request, "
        f"each page asked for once per side, {rounds} rounds"
    )
    print(tabulate(rows, headers=headers))
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "scenario"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    parsed = parser.parse_args()
    if parsed.command == "scenario":
        scenario(*parsed.args)
    else:
        main(parsed.rounds)
    sys.exit(0)
