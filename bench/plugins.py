"""`python -m bench.plugins`: a Python plugin source against the same generator writing to
DuckDB itself.

The generator makes 10,000,000 rows (7 columns: ids, a timestamp, a decimal-like amount, text)
in batches of 100,000 with pyarrow. Each scenario runs in a process of its own and reports its
time (first batch to committed table, imports excluded) and peak RSS:

- `duckdb direct`: each batch inserted into one table of a DuckDB file as it comes.
- `tributary plugin`: the `kind: python` path (plugin, staging as batches arrive, the commit
  with its load record and cursor), incremental on the timestamp.

Targets: the plugin at most 1.3x the time and 1.5x the peak RSS of the direct write.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tabulate import tabulate

import tributary
from bench.measure import Measurement, peak_rss_mb, run_scenario
from tributary import DataSource, State, TableRequest

ROWS, BATCH_ROWS = 10_000_000, 100_000
TIME_TARGET, RSS_TARGET = 1.3, 1.5
COUNTRIES = pa.array(["FR", "DE", "NL", "BE", "ES", "IT", "US", "GB"])
START_MICROS = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def batches(rows: int = ROWS, size: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """`rows` generated rows, `size` at a time; the same rows on every call."""
    for low in range(0, rows, size):
        ids = pa.array(range(low, min(low + size, rows)), pa.int64())
        mixed = pc.bit_wise_and(pc.multiply(ids, 2_654_435_761), 0xFFFFFF)
        yield pa.table(
            {
                "event_id": ids,
                "occurred_at": pc.add(pc.multiply(ids, 1_000_000), START_MICROS).cast(
                    pa.timestamp("us", "UTC")
                ),
                "user_id": pc.bit_wise_and(mixed, 0xFFFF),
                "amount": pc.divide(pc.cast(pc.bit_wise_and(mixed, 0x3FFF), pa.float64()), 100),
                "country": pc.take(COUNTRIES, pc.bit_wise_and(mixed, 7)),
                "quantity": pc.cast(pc.bit_wise_and(mixed, 15), pa.int32()),
                "note": pc.binary_join_element_wise("order ", pc.cast(ids, pa.string()), ""),
            }
        )


class Generator(DataSource):
    """The bench's generator as a plugin."""

    class Options(tributary.Options):
        rows: int = ROWS

    options: Options

    def fetch(self, table: TableRequest, state: State) -> Iterator[pa.Table]:
        yield from batches(self.options.rows)


def _direct(work: Path, rows: int) -> dict[str, object]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(work / "direct.duckdb"))
    for n, batch in enumerate(batches(rows)):
        con.register("batch", batch)
        if n == 0:
            con.execute("CREATE TABLE events AS SELECT * FROM batch")
        else:
            con.execute("INSERT INTO events SELECT * FROM batch")
        con.unregister("batch")
    row = con.execute("SELECT count(*) FROM events").fetchone()
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": row[0] if row else 0}


def _plugin(work: Path, rows: int) -> dict[str, object]:
    from platform_assets.python_kind.assets import PluginRunner, _extract, table_write_spec
    from platform_assets.python_kind.config import PythonSource
    from resources.warehouse import Warehouse

    source = PythonSource.model_validate(
        {
            "name": "bench",
            "kind": "python",
            "plugin": "bench.plugins:Generator",
            "options": {"rows": rows},
            "tables": [
                {
                    "name": "events",
                    "write": "append",
                    "incremental": {"cursor_field": "occurred_at"},
                }
            ],
        }
    )
    table = source.tables[0]
    warehouse = Warehouse(path=str(work / "warehouse.duckdb"), staging_dir=str(work / "staging"))
    runner = PluginRunner(cache_dir=str(work / "cache"))
    started = time.perf_counter()
    with warehouse.load(source.name, table.name) as load:
        cursor = _extract(runner, source, table)(load)
        result = load.commit(table_write_spec(source, table), cursor)
    return {"seconds": time.perf_counter() - started, "rows": result.rows_in, "cursor": cursor}


def _scenario(name: str, rows: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-plugins-"))
    try:
        detail = (_direct if name == "direct" else _plugin)(work, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({**detail, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["direct", "plugin"])
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    if args.scenario:
        _scenario(args.scenario, args.rows)
        return

    rows = str(args.rows)
    direct: Measurement = run_scenario(
        "duckdb direct", "bench.plugins", "--scenario", "direct", "--rows", rows
    )
    plugin: Measurement = run_scenario(
        "tributary plugin", "bench.plugins", "--scenario", "plugin", "--rows", rows
    )
    for m in (direct, plugin):
        assert m.detail["rows"] == args.rows, f"{m.name} landed {m.detail['rows']} rows"
    time_ratio = plugin.seconds / direct.seconds
    rss_ratio = plugin.peak_rss_mb / direct.peak_rss_mb
    print(f"{args.rows:,} rows in batches of {BATCH_ROWS:,}")
    print(
        tabulate(
            [[m.name, f"{m.seconds:.2f}", f"{m.peak_rss_mb:.0f}"] for m in (direct, plugin)],
            headers=["scenario", "seconds", "peak RSS MB"],
        )
    )
    print(f"time ratio {time_ratio:.2f}x (target <= {TIME_TARGET}x)")
    print(f"peak RSS ratio {rss_ratio:.2f}x (target <= {RSS_TARGET}x)")
    failed = [
        what
        for what, ratio, target in (
            ("time", time_ratio, TIME_TARGET),
            ("RSS", rss_ratio, RSS_TARGET),
        )
        if ratio > target
    ]
    if failed:
        sys.exit(f"bench.plugins: {', '.join(failed)} over target")


if __name__ == "__main__":
    main()
