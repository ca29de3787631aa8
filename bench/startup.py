"""`python -m bench.startup [--rounds R] [--sources N]`: how long a user waits for `tributary`.

Every command runs as a user runs it, in a fresh process, and is timed against
`python -c "import dagster"` timed in the same run (median over rounds, each round's ratio beside
it):

- `tributary run` of a one-row CSV source (warehouse and Dagster instance in a temporary folder):
  at most 2.0x;
- `tributary sources`, `tributary validate` (the demo catalog) and `tributary query` (one row of
  that warehouse): at most 1.5x;
- `tributary validate` of a catalog of N sources (default 1,000), each with two tables with
  column checks, a row condition and a schedule: at most 3.6x (3 seconds when `import dagster`
  took 0.83 s);
- for reference, Dagster's own floor for a run: one trivial asset materialized in process on the
  SQLite instance of `DAGSTER_HOME`, as `tributary run` records its runs (no target).

Each command's output is checked (the row landed, the sources listed, the catalog valid); a
command that fails or prints something else stops the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

PROJECT = Path(__file__).resolve().parent.parent
RUN_TARGET, COMMAND_TARGET, LARGE_TARGET = 2.0, 1.5, 3.6

_FLOOR = """
import dagster as dg

@dg.asset
def one() -> None:
    return None

quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
assert dg.materialize([one], instance=dg.DagsterInstance.get(), run_config=quiet).success
"""
"""Dagster alone: what any in-process run recorded in a SQLite instance costs."""


@dataclass(frozen=True)
class Timing:
    name: str
    rounds: list[float]
    target: float | None
    """Ratio to the baseline it must stay under; None: shown for reference."""

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)


def _timed(command: Sequence[str], env: dict[str, str], expect: Callable[[str], bool]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not expect(done.stdout):
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}"
            f"{done.stderr[-2000:]}"
        )
    return seconds


def _tributary(*args: str) -> list[str]:
    return [sys.executable, "-m", "platform_assets.cli", *args]


def write_large_catalog(directory: Path, sources: int) -> None:
    """`sources` files sources, each with two tables that carry checks and a daily schedule."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(sources):
        tables = "".join(
            f"""
  - name: t{t}
    path: data/s{n}/t{t}/*.csv
    primary_key: id
    write: merge
    checks:
      columns:
        id: {{nullable: false, unique: true, dtype: BIGINT}}
        amount: {{min: 0, max: 1000000}}
        code: {{regex: "^[A-Z]{{3}}$", str_length: {{min: 3, max: 3}}}}
      expressions:
        - {{name: positive, expr: "amount >= 0"}}
"""
            for t in range(2)
        )
        (directory / f"s{n:04d}.yaml").write_text(
            f'name: s{n:04d}\nkind: files\nschedule: "{n % 60} 5 * * *"\n'
            f"tags: {{domain: d{n % 7}}}\ntables:{tables}",
            encoding="utf-8",
        )


def measure(rounds: int, sources: int) -> tuple[list[float], list[Timing]]:
    """The baseline's rounds and every command's, run round-robin so load affects all alike."""
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        (work / "catalog").mkdir()
        (work / "catalog" / "one.yaml").write_text(
            "name: one\nkind: files\ntables:\n  - name: rows\n    path: one.csv\n",
            encoding="utf-8",
        )
        (work / "one.csv").write_text("id,name\n1,a\n", encoding="utf-8")
        write_large_catalog(work / "large" / "catalog", sources)
        base = {
            **os.environ,
            "PYTHONPATH": str(PROJECT),
            "TRIBUTARY_ROOT": str(work),
            "TRIBUTARY_WAREHOUSE": str(work / "warehouse.duckdb"),
            "TRIBUTARY_MODELS": str(work / "no-models"),
            "DAGSTER_HOME": str(work / "dagster"),
        }
        one = {**base, "TRIBUTARY_CATALOG": str(work / "catalog")}
        demo = {
            **base,
            "TRIBUTARY_CATALOG": str(PROJECT / "platform_assets" / "catalog"),
            "TRIBUTARY_ROOT": str(PROJECT),
            "TRIBUTARY_MODELS": str(PROJECT / "platform_assets" / "models"),
        }
        large = {**base, "TRIBUTARY_CATALOG": str(work / "large" / "catalog")}
        commands: list[tuple[str, list[str], dict[str, str], Callable[[str], bool], float | None]]
        commands = [
            ("run (one row)", _tributary("run", "--source", "one"), one,
             lambda o: "1 row" in o, RUN_TARGET),
            ("sources", _tributary("sources"), demo, lambda o: "crm" in o, COMMAND_TARGET),
            ("validate", _tributary("validate"), demo, lambda o: "valid" in o, COMMAND_TARGET),
            ("query", _tributary("query", "SELECT count(*) AS n FROM one.rows"), one,
             lambda o: "1" in o, COMMAND_TARGET),
            (f"validate ({sources:,} sources)", _tributary("validate"), large,
             lambda o: f"{sources} sources, {2 * sources} tables" in o, LARGE_TARGET),
            ("dagster run floor", [sys.executable, "-c", _FLOOR],
             {**base, "DAGSTER_HOME": str(work / "floor")}, lambda o: True, None),
        ]  # fmt: skip
        (work / "floor").mkdir()  # configured as `tributary run` configures its instance
        (work / "floor" / "dagster.yaml").write_text(
            "telemetry:\n  enabled: false\npython_logs:\n  python_log_level: WARNING\n",
            encoding="utf-8",
        )
        baseline: list[float] = []
        times: dict[str, list[float]] = {name: [] for name, *_ in commands}
        for _ in range(rounds):
            baseline.append(_timed([sys.executable, "-c", "import dagster"], base, lambda o: True))
            for name, command, env, expect, _target in commands:
                times[name].append(_timed(command, env, expect))
        return baseline, [Timing(n, times[n], t) for n, _, _, _, t in commands]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sources", type=int, default=1000)
    args = parser.parse_args()
    baseline, timings = measure(args.rounds, args.sources)
    base = statistics.median(baseline)
    rows, missed = [], []
    for t in timings:
        ratio = t.median / base
        rounds = " ".join(f"{s / b:.2f}" for s, b in zip(t.rounds, baseline, strict=True))
        if t.target is None:
            over, target = False, "-"
        else:
            over = ratio > t.target
            target = f"<= {t.target:.1f}x"
        rows.append([t.name, f"{t.median:.2f}", f"{ratio:.2f}x", rounds, target, "OVER" * over])
        if over:
            missed.append(t.name)
    print(f'baseline: python -c "import dagster" {base:.2f} s (median of {args.rounds})')
    print(tabulate(rows, headers=["command", "seconds", "ratio", "rounds", "target", ""]))
    if missed:
        print(f"targets missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
