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
import os
from pathlib import Path

import duckdb

from resources.duckdb_sql import literal

EXTENSION_DIRECTORY_VARIABLE = "TRIBUTARY_EXTENSION_DIRECTORY"
OFFLINE_CONFIG: dict[str, str | bool] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
"""Connection settings that keep DuckDB from fetching an extension on its own."""


class ExtensionUnavailableError(RuntimeError):
    """An extension is neither installed in the extension directory nor in a wheel."""


def extension_directory() -> Path:
    """`TRIBUTARY_EXTENSION_DIRECTORY`, or `~/.cache/tributary/duckdb-extensions`: where a
    warehouse connection installs its extensions."""
    configured = os.environ.get(EXTENSION_DIRECTORY_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "tributary" / "duckdb-extensions"


def offline_config(directory: Path | None = None) -> dict[str, str | bool]:
    """Connection settings for `duckdb.connect(config=...)`: no automatic download, and the
    extension directory (`extension_directory()` unless given; created here)."""
    where = directory or extension_directory()
    where.mkdir(parents=True, exist_ok=True)
    return {**OFFLINE_CONFIG, "extension_directory": str(where)}


def wheel_file(name: str) -> Path | None:
    """The extension file the `duckdb-extension-<name>` wheel carries for this DuckDB, or None
    when that wheel is not installed (or carries no build for this version)."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return path if path.is_file() else None


def load_extension(
    con: duckdb.DuckDBPyConnection, name: str, directory: Path | None = None
) -> None:
    """Load extension `name` (e.g. "postgres") into `con`, installing it first from its wheel
    into `directory` (created if needed) when it is not there yet. Without `directory`, the
    connection's own settings stand (see `offline_config`).

    Raises `ExtensionUnavailableError` naming the wheel to install when neither has it, and
    DuckDB's error when the file will not load."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not an extension name")
    if directory is not None:
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
