"""Commands that need no Dagster start without it: listing the catalog must not pay Dagster's
import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys
from typer.testing import CliRunner
from platform_assets.cli import app
result = CliRunner().invoke(app, {args!r})
assert result.exit_code == {code}, result.output
print(sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster.")))
"""


def _modules_after(args: list[str], code: int, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(args=args, code=code)],
        env={**os.environ, "PYTHONPATH": str(PROJECT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_tributary_sources_does_not_import_dagster() -> None:
    assert _modules_after(["sources"], 0, {}) == "[]"
