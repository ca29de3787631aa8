"""Run a scenario in its own process and read its wall time and peak memory (RSS).

The peak comes from the child's own `VmHWM` (Linux): `ru_maxrss` survives exec, so a child would
report its parent's high-water mark if that were larger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    name: str
    seconds: float
    peak_rss_mb: float
    detail: dict[str, object]


def run_scenario(name: str, module: str, *args: str) -> Measurement:
    """`python -m <module> <args>` in a child process; the child prints one JSON line of detail."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, _usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"scenario {name} failed:\n{err[-3000:]}")
    last = out.strip().splitlines()[-1] if out.strip() else "{}"
    detail = json.loads(last)
    inner = float(detail.pop("seconds", seconds))
    return Measurement(name, inner, float(detail.pop("peak_rss_mb")), detail)


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB; scenarios report it last thing."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> float:
    """Restart this process's peak resident memory (VmHWM) from what it holds now, and return
    that, in MB. A scenario calls it after its imports and before its timed work, so that
    `peak_rss_mb() - floor` is the memory the work itself took, whatever the imports weigh
    (Linux: `5` written to `/proc/self/clear_refs`)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")
    return peak_rss_mb()
