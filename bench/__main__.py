"""`python -m bench [--rows N] [--rounds R] [--format csv|parquet]`: file loads against DuckDB's
own reader, in the same run.

Targets (median over rounds): a first load (merge on a primary key) at most 1.3x DuckDB's
`CREATE TABLE AS SELECT * FROM read_csv(...)`, a second load of the same file at most 1.5x, peak
RSS at most 1 GB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from bench.generate import ensure_inputs
from bench.measure import Measurement, run_scenario

TARGETS = {"first load": 1.3, "second load": 1.5}
RSS_TARGET_MB = 1024
FORMATS = ("csv", "parquet")


def bench_files(rows: int, rounds: int, formats: Sequence[str]) -> list[list[object]]:
    """Each round times the baseline, a first load and a second load back to back; a ratio is
    taken within its round, and the median over rounds is reported. On a shared 2-core VM one
    round's ratio landed anywhere from 1.0x to 1.7x, so it takes five rounds for the median to
    mean much."""
    table: list[list[object]] = []
    for input_path in ensure_inputs(rows):
        fmt = input_path.suffix.lstrip(".")
        if fmt not in formats:
            continue
        results: dict[str, list[tuple[Measurement, float]]] = {}
        for _ in range(rounds):
            base, first, second = _round(input_path)
            for m in (base, first, second):
                results.setdefault(m.name, []).append((m, m.seconds / base.seconds))
        table.extend(_row(fmt, runs) for runs in results.values())
    return table


def _round(input_path: Path) -> tuple[Measurement, Measurement, Measurement]:
    work = Path(tempfile.mkdtemp(prefix="tributary-bench-"))
    try:
        base = run_scenario(
            "duckdb", "bench.scenarios", "duckdb_ctas", str(input_path), str(work / "b.duckdb")
        )
        loads = [
            run_scenario(name, "bench.scenarios", "tributary_load", str(input_path), str(work))
            for name in ("first load", "second load")
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return base, loads[0], loads[1]


def _row(fmt: str, runs: list[tuple[Measurement, float]]) -> list[object]:
    name = runs[0][0].name
    seconds = statistics.median(m.seconds for m, _ in runs)
    ratio = statistics.median(r for _, r in runs)
    peak = max(m.peak_rss_mb for m, _ in runs)
    target = TARGETS.get(name)
    verdict = "" if target is None else ("ok" if ratio <= target else f"OVER {target}x")
    rss = "ok" if peak <= RSS_TARGET_MB else "OVER"
    return [
        fmt,
        name,
        f"{seconds:.2f}",
        f"{ratio:.2f}x",
        verdict,
        " ".join(f"{r:.2f}" for _, r in runs),
        f"{peak:.0f}",
        rss,
        runs[-1][0].detail,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--format", action="append", choices=FORMATS, help="only this input (repeatable)"
    )
    args = parser.parse_args()
    rows = bench_files(args.rows, args.rounds, args.format or FORMATS)
    print(
        tabulate(
            rows,
            headers=[
                "format",
                "scenario",
                "seconds",
                "vs duckdb",
                "target",
                "each round",
                "peak MB",
                "rss",
                "detail",
            ],
        )
    )


if __name__ == "__main__":
    main()
