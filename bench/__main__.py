"""`python -m bench [--rows N]`: file loads against DuckDB's own reader, same run, same machine.

Targets: a first load (merge on a primary key) at most 1.3x DuckDB's `CREATE TABLE AS SELECT *
FROM read_csv(...)`, a second load of the same file at most 1.5x, peak RSS at most 1 GB.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tabulate import tabulate

from bench.generate import ensure_inputs
from bench.measure import Measurement, run_scenario

TARGETS = {"first load": 1.3, "second load": 1.5}
RSS_TARGET_MB = 1024


def bench_files(rows: int) -> list[list[object]]:
    table: list[list[object]] = []
    for input_path in ensure_inputs(rows):
        fmt = input_path.suffix.lstrip(".")
        work = Path(tempfile.mkdtemp(prefix="tributary-bench-"))
        try:
            base = run_scenario(
                "duckdb",
                "bench.scenarios",
                "duckdb_ctas",
                str(input_path),
                str(work / "baseline.duckdb"),
            )
            first = run_scenario(
                "first load",
                "bench.scenarios",
                "tributary_load",
                str(input_path),
                str(work / "tributary"),
            )
            second = run_scenario(
                "second load",
                "bench.scenarios",
                "tributary_load",
                str(input_path),
                str(work / "tributary"),
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        table.append(_row(fmt, base, base))
        table.extend(_row(fmt, m, base) for m in (first, second))
    return table


def _row(fmt: str, m: Measurement, base: Measurement) -> list[object]:
    ratio = m.seconds / base.seconds
    target = TARGETS.get(m.name)
    verdict = "" if target is None else ("ok" if ratio <= target else f"OVER {target}x")
    rss = "ok" if m.peak_rss_mb <= RSS_TARGET_MB else "OVER"
    return [
        fmt,
        m.name,
        f"{m.seconds:.2f}",
        f"{ratio:.2f}x",
        verdict,
        f"{m.peak_rss_mb:.0f}",
        rss,
        m.detail,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    rows = bench_files(args.rows)
    print(
        tabulate(
            rows,
            headers=[
                "format",
                "scenario",
                "seconds",
                "vs duckdb",
                "target",
                "peak MB",
                "rss",
                "detail",
            ],
        )
    )


if __name__ == "__main__":
    main()
