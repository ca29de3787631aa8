"""`python -m bench.rest_api`: a paginated REST API into DuckDB, against a plain concurrent fetch.

A local API on 127.0.0.1 serves 100,000 records in 200 pages of 500, each record with a nested
object, 50 ms of latency per request. Each scenario runs in a process of its own and reports its
time (fetch to committed table, imports excluded) and peak RSS:

- `requests + polars`: 16 threads of `requests`, `polars` to flatten, one DuckDB CREATE TABLE.
- `tributary reader`: the `kind: rest` path (reader, staging, merge commit) with 16 workers.
- `tributary via dagster`: the same source materialized through Dagster (start-up included).

Targets: the reader at most 1.5x the plain fetch, peak RSS at most 400 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tabulate import tabulate

from bench.measure import Measurement, peak_rss_mb, run_scenario

RECORDS, PAGE_SIZE, LATENCY, WORKERS = 100_000, 500, 0.05, 16
RATIO_TARGET, RSS_TARGET_MB = 1.5, 400


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


def serve() -> ThreadingHTTPServer:
    pages = _pages()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            body = pages[int(query.get("page", ["1"])[0]) - 1]
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


def baseline(url: str, work: Path) -> tuple[int, float]:
    from concurrent.futures import ThreadPoolExecutor

    import duckdb
    import polars as pl
    import requests

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=WORKERS, pool_maxsize=WORKERS)
    session.mount("http://", adapter)

    def page(number: int) -> pl.DataFrame:
        body = session.get(url, params={"page": number}, timeout=30).json()
        return pl.DataFrame(body["data"]).unnest("customer", separator="__")

    started = time.perf_counter()
    first = session.get(url, params={"page": 1}, timeout=30).json()
    pages = -(-int(first["total"]) // len(first["data"]))
    with ThreadPoolExecutor(WORKERS) as pool:
        frames = [page(1), *pool.map(page, range(2, pages + 1))]
    frame = pl.concat(frames, how="diagonal_relaxed")
    with duckdb.connect(str(work / "baseline.duckdb")) as con:
        con.register("frame", frame.to_arrow())
        con.execute("CREATE TABLE records AS SELECT * FROM frame")
        count = con.execute("SELECT count(*) FROM records").fetchone()
    return (int(count[0]) if count else 0), time.perf_counter() - started


def _source(url: str) -> Any:
    from platform_assets.config.rest import RestSource

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


def tributary(url: str, work: Path) -> tuple[int, float]:
    from platform_assets.rest import load_rest_table
    from resources.rest import RestReader
    from resources.warehouse import Warehouse

    started = time.perf_counter()
    source = _source(url)
    warehouse = Warehouse(path=str(work / "w.duckdb"), staging_dir=str(work / "staging"))
    reader = RestReader(cache_dir=str(work / "cache"))
    client = reader.client(source)
    loaded = load_rest_table(warehouse, reader, client, source, source.tables[0])
    return loaded.result.rows_in, time.perf_counter() - started


def dagster(url: str, work: Path) -> tuple[int, float]:
    started = time.perf_counter()
    from dagster import DagsterInstance, materialize

    from platform_assets.rest import build_rest_assets
    from resources.rest import RestReader
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
    materialized = result.asset_materializations_for_node("bench")
    rows = int(str(materialized[0].metadata["rows_in"].value)) if materialized else 0
    return rows, time.perf_counter() - started


SCENARIOS = {"baseline": baseline, "tributary": tributary, "dagster": dagster}


def scenario(name: str, url: str, work: str) -> None:
    rows, seconds = SCENARIOS[name](url, Path(work))
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    server = serve()
    url = f"http://127.0.0.1:{server.server_address[1]}/records"
    work = Path(tempfile.mkdtemp(prefix="tributary-rest-bench-"))
    runs: list[Measurement] = []
    try:
        for label, name in (
            ("requests + polars (16 threads)", "baseline"),
            ("tributary reader (16 workers)", "tributary"),
            ("tributary via dagster", "dagster"),
        ):
            (work / name).mkdir()
            runs.append(
                run_scenario(label, "bench.rest_api", "scenario", name, url, str(work / name))
            )
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    base = runs[0]
    rows = []
    for m in runs:
        ratio = m.seconds / base.seconds
        verdict = ""
        if m is runs[1]:
            ok = ratio <= RATIO_TARGET and m.peak_rss_mb <= RSS_TARGET_MB
            verdict = "ok" if ok else f"OVER ({RATIO_TARGET}x, {RSS_TARGET_MB} MB)"
        rows.append(
            [
                m.name,
                m.detail.get("rows"),
                f"{m.seconds:.2f}",
                f"{ratio:.2f}x",
                f"{m.peak_rss_mb:.0f}",
                verdict,
            ]
        )
    headers = ["scenario", "rows", "seconds", "ratio", "peak RSS MB", "target"]
    print(
        f"{RECORDS} records, {RECORDS // PAGE_SIZE} pages of {PAGE_SIZE}, {LATENCY * 1000:.0f} ms"
    )
    print(tabulate(rows, headers=headers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="run", choices=["run", "scenario"])
    parser.add_argument("args", nargs="*")
    parsed = parser.parse_args()
    if parsed.command == "scenario":
        scenario(*parsed.args)
    else:
        main()
    sys.exit(0)
