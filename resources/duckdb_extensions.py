"""Loading DuckDB extensions (postgres, mysql, sqlite, ducklake...) without the internet.

DuckDB's extension repository is not reachable from every machine that runs the platform, so
extensions come from the pinned `duckdb-extension-<name>` wheels, which carry DuckDB's own
signed builds. A plain `LOAD '<path>'` of such a file fails on its entry point's name; what
works is `INSTALL '<path>'` into an extension directory of the project's, then `LOAD <name>`.
Automatic installs and loads are turned off, so a missing extension is an error here, never a
download attempt at query time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from resources.duckdb_sql import literal


class ExtensionUnavailableError(RuntimeError):
    """An extension is neither installed in the extension directory nor in a wheel."""


def wheel_file(name: str) -> Path | None:
    """The extension file the `duckdb-extension-<name>` wheel carries for this DuckDB, or None
    when that wheel is not installed (or carries no build for this version)."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return path if path.is_file() else None


def load_extension(con: duckdb.DuckDBPyConnection, name: str, directory: Path) -> None:
    """Load extension `name` (e.g. "postgres") into `con`, installing it first from its wheel
    into `directory` (created if needed) when it is not there yet.

    Raises `ExtensionUnavailableError` naming the wheel to install when neither has it, and
    DuckDB's error when the file will not load."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not an extension name")
    directory.mkdir(parents=True, exist_ok=True)
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute(f"SET extension_directory = {literal(str(directory))}")
    try:
        con.execute(f"LOAD {name}")
        return
    except duckdb.Error:
        pass  # not installed in `directory` yet
    path = wheel_file(name)
    if path is None:
        raise ExtensionUnavailableError(
            f"DuckDB extension {name!r} is not installed: "
            f"pip install 'duckdb-extension-{name}=={duckdb.__version__}'"
        )
    con.execute(f"FORCE INSTALL {literal(str(path))}")
    con.execute(f"LOAD {name}")
