"""Commands that need no Dagster start without it: listing the catalog must not pay Dagster's
import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def _python(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`script` run by a fresh interpreter from the project root, failing on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(PROJECT), **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )


_PROBE = """
import sys
from typer.testing import CliRunner
from platform_assets.cli import app
result = CliRunner().invoke(app, {args!r})
assert result.exit_code == {code}, result.output
print(sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster.")))
"""


def _modules_after(args: list[str], code: int, env: dict[str, str]) -> str:
    done = _python(_PROBE.format(args=args, code=code), env)
    return done.stdout.strip().splitlines()[-1]


def test_tributary_sources_does_not_import_dagster() -> None:
    assert _modules_after(["sources"], 0, {}) == "[]"


_RUN_PROBE = """
import sys
from platform_assets.cli import app
try:
    app(["run", "--source", "one"])
except SystemExit as done:
    assert done.code in (0, None), done.code
kinds = ("files", "rest", "python", "sql", "stream")
loaded = [k for k in kinds if f"platform_assets.{k}_kind" in sys.modules]
heavy = [m for m in ("pandera", "polars", "pyarrow", "sqlglot", "requests", "psycopg")
         if m in sys.modules]
print(sorted(loaded), heavy)
"""


def _files_catalog(root: Path) -> dict[str, str]:
    """A catalog of two files sources without checks: `one` (one row) and `two`."""
    (root / "catalog").mkdir()
    for name in ("one", "two"):
        (root / "catalog" / f"{name}.yaml").write_text(
            f"name: {name}\nkind: files\ntables:\n  - name: rows\n    path: {name}.csv\n",
            encoding="utf-8",
        )
        (root / f"{name}.csv").write_text("id,name\n1,a\n", encoding="utf-8")
    return {
        "TRIBUTARY_ROOT": str(root),
        "TRIBUTARY_CATALOG": str(root / "catalog"),
        "TRIBUTARY_WAREHOUSE": str(root / "warehouse.duckdb"),
        "TRIBUTARY_MODELS": str(root / "models"),
        "DAGSTER_HOME": str(root / "dagster"),
    }


def test_a_run_of_a_files_source_loads_no_other_kind_nor_what_it_does_not_use(
    tmp_path: Path,
) -> None:
    """A run of a files source without checks needs DuckDB and Dagster: no other kind's
    folder (their clients and drivers), no quality engine, no Arrow, no SQL parser."""
    env = _files_catalog(tmp_path)
    done = _python(_RUN_PROBE, env)
    assert "1 row landed" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "['files'] []"


_VALIDATE_PROBE = """
import sys
from platform_assets.cli import app
try:
    app(["validate"])
except SystemExit as done:
    assert done.code in (0, None), done.code
kinds = ("files", "rest", "python", "sql", "stream")
loaded = [k for k in kinds if f"platform_assets.{k}_kind" in sys.modules]
heavy = [m for m in ("pandera", "polars", "pyarrow", "sqlglot", "requests", "psycopg")
         if m in sys.modules]
print(sorted(loaded), heavy)
"""


def test_validating_a_files_catalog_builds_its_definitions_without_what_it_does_not_use(
    tmp_path: Path,
) -> None:
    """Range and null rules become asset checks by name: validating them builds the Dagster
    definitions without the quality engine (pandera), another kind's folder, Arrow or the SQL
    parser (no SQL rule, no model)."""
    env = _files_catalog(tmp_path)
    (tmp_path / "catalog" / "one.yaml").write_text(
        "name: one\nkind: files\nschedule: '0 5 * * *'\ntables:\n  - name: rows\n"
        "    path: one.csv\n    checks:\n      columns:\n"
        "        id: {nullable: false, min: 0, max: 10}\n",
        encoding="utf-8",
    )
    done = _python(_VALIDATE_PROBE, env)
    assert "2 sources, 2 tables, valid" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "['files'] []"


_SDK_PROBE = """
import sys
import tributary
before = [m for m in ("polars", "pyarrow", "requests") if m in sys.modules]
from tributary import Batch, HttpClient
print(before, [m for m in ("polars", "pyarrow", "requests") if m in sys.modules])
"""


def test_the_sdk_imports_polars_pyarrow_and_requests_only_when_a_plugin_asks() -> None:
    """Reading a catalog imports the SDK for its plugin classes; `Batch` and `HttpClient` bring
    the heavy libraries, on first use."""
    done = _python(_SDK_PROBE)
    assert done.stdout.strip() == "[] ['polars', 'pyarrow', 'requests']"


def test_a_catalog_without_change_capture_does_not_import_its_drivers(tmp_path: Path) -> None:
    """The CDC lag sensor and the SQL kind import psycopg and mysql-replication only where a
    table captures changes."""
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "erp.yaml").write_text(
        "name: erp\nkind: sql\nconnection: sqlite:///erp.sqlite\n"
        "tables:\n  - {name: orders, table: orders}\n",
        encoding="utf-8",
    )
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from platform_assets.platform import build_definitions, load_platform_catalog\n"
        f"build_definitions(load_platform_catalog(Path({str(tmp_path / 'catalog')!r})))\n"
        "print([m for m in ('psycopg', 'pymysqlreplication') if m in sys.modules])\n"
    )
    done = _python(probe)
    assert done.stdout.strip().splitlines()[-1] == "[]"
