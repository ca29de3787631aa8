"""`python -m bench [--rows N] [--rounds R] [--format csv|parquet]`: file loads against DuckDB's
own reader, in the same run.

Each load is timed against DuckDB's `CREATE TABLE AS SELECT * FROM read_csv(...)` (or
`read_parquet`) of the very file it loads. Targets (median over rounds), for `write: merge` and
`write: scd2` on the primary key `id`:

- a first load (the batch is renamed into place): at most 1.3x;
- a second load of the same file (nothing changes, nothing is written): at most 1.5x;
- a load of the next snapshot, 10% of its rows changed and 5% new (rows are updated, and under
  scd2 versions closed): at most 2.0x;
- peak RSS at most 1 GB.

Every load's reported counts and what its table then holds are checked against the snapshots'
generated differences and against DuckDB's own table of the same file; a mismatch stops the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench.generate import DATA, Snapshot, ensure_changed_inputs, ensure_inputs, snapshot
from bench.measure import Measurement, run_scenario

RSS_TARGET_MB = 1024
FORMATS = ("csv", "parquet")
BASELINE = "DuckDB CREATE TABLE AS"
CHANGES = "10% changed + 5% new"


@dataclass(frozen=True)
class Load:
    """One timed load of a round: which write disposition, of which snapshot, what it must
    report (inserted, updated, deleted) and against which ratio target."""

    write: str
    step: str
    changed_snapshot: bool
    target: float

    @property
    def name(self) -> str:
        return f"{self.write}, {self.step}"

    def expected(self, snap: Snapshot) -> dict[str, int]:
        """The counts the load must report, and what its table must hold after it."""
        if self.changed_snapshot:
            counts = {"inserted": snap.new, "updated": snap.changed, "deleted": 0}
            rows = snap.total
        elif self.step == "first load":
            counts, rows = {"inserted": snap.rows, "updated": 0, "deleted": 0}, snap.rows
        else:
            counts, rows = {"inserted": 0, "updated": 0, "deleted": 0}, snap.rows
        held = {"rows": rows, "ids": rows}
        if self.write == "scd2":
            closed = snap.changed if self.changed_snapshot else 0
            held |= {"versions": rows + closed, "closed": closed}
        return counts | held


LOADS = (
    Load("merge", "first load", changed_snapshot=False, target=1.3),
    Load("merge", "second load, same file", changed_snapshot=False, target=1.5),
    Load("merge", f"third load, {CHANGES}", changed_snapshot=True, target=2.0),
    Load("scd2", "first load", changed_snapshot=False, target=1.3),
    Load("scd2", f"second load, {CHANGES}", changed_snapshot=True, target=2.0),
)


@dataclass
class Timed:
    """Every round of one scenario: its measurements and each one's ratio to its baseline."""

    label: str
    against: str
    target: float | None
    runs: list[tuple[Measurement, float]]


def bench_files(rows: int, rounds: int, formats: Sequence[str]) -> list[Timed]:
    """Each round times both baselines and every load back to back; a ratio is taken within its
    round, and the median over rounds is reported beside each round's own. On a shared 2-core VM
    one round's ratio landed anywhere from 1.0x to 1.7x, so one round means little."""
    snap = snapshot(rows)
    firsts, changes = ensure_inputs(rows), ensure_changed_inputs(rows)
    timed: list[Timed] = []
    for first, changed in zip(firsts, changes, strict=True):
        fmt = first.suffix.lstrip(".")
        if fmt not in formats:
            continue
        by_name: dict[str, Timed] = {
            "first": Timed(f"{BASELINE}, first snapshot ({snap.rows:,} rows)", "", None, []),
            "changed": Timed(f"{BASELINE}, next snapshot ({snap.total:,} rows)", "", None, []),
        }
        for load in LOADS:
            against = f"{BASELINE} of the {'next' if load.changed_snapshot else 'first'} snapshot"
            by_name[load.name] = Timed(load.name, against, load.target, [])
        for _ in range(rounds):
            bases, loads = _round(first, changed, snap)
            for key, base in bases.items():
                by_name[key].runs.append((base, 1.0))
            for load, measured in zip(LOADS, loads, strict=True):
                base = bases["changed" if load.changed_snapshot else "first"]
                by_name[load.name].runs.append((measured, measured.seconds / base.seconds))
        for entry in by_name.values():
            entry.label = f"{fmt}: {entry.label}"
        timed.extend(by_name.values())
    return timed


def _round(
    first: Path, changed: Path, snap: Snapshot
) -> tuple[dict[str, Measurement], list[Measurement]]:
    """One round: DuckDB's table of each snapshot, then each write disposition's loads into a
    warehouse of its own. The source's file keeps one path, `orders.<format>`, a hard link to the
    first snapshot and then to the next, as a file rewritten in place would."""
    work = Path(tempfile.mkdtemp(prefix="round-", dir=DATA))
    try:
        bases = {
            key: run_scenario(
                BASELINE, "bench.scenarios", "duckdb_ctas", str(path), str(work / f"{key}.duckdb")
            )
            for key, path in (("first", first), ("changed", changed))
        }
        source_file = work / f"orders{first.suffix}"
        loads = []
        for load in LOADS:
            _link(changed if load.changed_snapshot else first, source_file)
            measured = run_scenario(
                load.name,
                "bench.scenarios",
                "tributary_load",
                str(source_file),
                str(work / load.write),
                load.write,
            )
            base = bases["changed" if load.changed_snapshot else "first"]
            _require(load, measured, base, snap)
            loads.append(measured)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return bases, loads


def _link(target: Path, link: Path) -> None:
    """Point `link` at `target`'s bytes (a new inode at the same path), atomically."""
    fresh = link.with_name(f".{link.name}.new")
    fresh.unlink(missing_ok=True)
    os.link(target, fresh)
    fresh.replace(link)


def _require(load: Load, measured: Measurement, base: Measurement, snap: Snapshot) -> None:
    """Stop the benchmark when a load reports other counts than its snapshot implies, or its
    table holds other rows than DuckDB's own table of the same file."""
    held: dict[str, Any] = dict(measured.detail["table"])  # type: ignore[call-overload]
    found = {k: measured.detail[k] for k in ("inserted", "updated", "deleted")} | {
        k: held[k] for k in ("rows", "ids", "versions", "closed") if k in held
    }
    expected = load.expected(snap)
    if found != expected:
        raise AssertionError(f"{load.name}: found {found}, expected {expected}")
    duckdb_table: dict[str, Any] = dict(base.detail["table"])  # type: ignore[call-overload]
    ours = {k: held[k] for k in duckdb_table}
    if ours != duckdb_table:
        raise AssertionError(
            f"{load.name}: the table holds {ours}, DuckDB's own table of the file {duckdb_table}"
        )


def rows_for(entry: Timed) -> list[object]:
    """One printed line: medians, each round's ratio, the verdict against its target."""
    measurements = [m for m, _ in entry.runs]
    ratios = [r for _, r in entry.runs]
    seconds = statistics.median(m.seconds for m in measurements)
    peak = max(m.peak_rss_mb for m in measurements)
    last = measurements[-1].detail
    if entry.target is None:
        ratio, verdict, rounds = "", "", ""
        landed = f"{last['table']['rows']:,} rows"  # type: ignore[index]
        pieces = ""
    else:
        median = statistics.median(ratios)
        ratio = f"{median:.2f}x"
        verdict = (
            f"ok (≤ {entry.target}x)"
            if median <= entry.target
            else f"OVER (target ≤ {entry.target}x)"
        )
        rounds = " ".join(f"{r:.2f}" for r in ratios)
        landed = ", ".join(f"{k} {last[k]:,}" for k in ("inserted", "updated"))
        if "closed" in last["table"]:  # type: ignore[operator]
            landed += f", closed {last['table']['closed']:,}"  # type: ignore[index]
        pieces = f"checks {last['check_seconds']}, commit {last['commit_seconds']}"
    rss = "ok" if peak <= RSS_TARGET_MB else f"OVER {RSS_TARGET_MB}"
    memory = f"{peak:.0f} {rss}"
    return [entry.label, f"{seconds:.2f}", ratio, verdict, rounds, memory, landed, pieces]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--format", action="append", choices=FORMATS, help="only this input (repeatable)"
    )
    args = parser.parse_args()
    timed = bench_files(args.rows, args.rounds, args.format or FORMATS)
    print(
        tabulate(
            [rows_for(entry) for entry in timed],
            headers=[
                "timed",
                "median s",
                "vs DuckDB CTAS of the same file",
                "target",
                "each round's ratio",
                "peak MB",
                "reported",
                "last round's seconds",
            ],
        )
    )
    print(_summary(timed))


def _summary(timed: list[Timed]) -> str:
    """One line per target: what is compared with what, its median ratio, and OVER if missed."""
    lines = []
    for entry in timed:
        if entry.target is None:
            continue
        median = statistics.median(r for _, r in entry.runs)
        mark = "" if median <= entry.target else "   <-- OVER"
        lines.append(
            f"{entry.label} vs {entry.against}: {median:.2f}x (target ≤ {entry.target}x){mark}"
        )
    missed = sum("OVER" in line for line in lines)
    lines.append(f"{len(lines) - missed} of {len(lines)} ratios within target")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
