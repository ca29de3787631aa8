"""DuckDB extensions loaded offline from their PyPI wheels (`duckdb-extension-<name>`).

Each wheel carries `extensions/v<duckdb version>/<name>.duckdb_extension`, a build of DuckDB's own
signed extension. `LOAD '<that path>'` fails (the entry point is looked up under the file's name),
so the file is INSTALLed into a project extension directory and then LOADed by name. Automatic
install and load stay off: nothing is ever downloaded.
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


class ExtensionError(RuntimeError):
    """An extension's wheel is not installed, or DuckDB refused to install or load it."""


def extension_directory() -> Path:
    """`TRIBUTARY_EXTENSION_DIRECTORY`, or `~/.cache/tributary/duckdb-extensions`."""
    configured = os.environ.get(EXTENSION_DIRECTORY_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "tributary" / "duckdb-extensions"


def wheel_file(name: str) -> Path:
    """The extension file in the `duckdb-extension-<name>` wheel for the running DuckDB.
    Raises ExtensionError when the wheel is not installed or was built for another version."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            f"DuckDB extension {name!r}: install the duckdb-extension-{name}=={duckdb.__version__} "
            "wheel"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ExtensionError(
            f"DuckDB extension {name!r}: the installed wheel has no build for DuckDB "
            f"{duckdb.__version__} ({path} is missing)"
        )
    return path


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load extension `name` into `con` from its wheel, installing it into the connection's
    `extension_directory` first when it is not there yet (set the directory at connect time,
    e.g. with `offline_config()`). Raises ExtensionError."""
    installed = con.execute(
        "SELECT installed, loaded FROM duckdb_extensions() WHERE extension_name = ?", [name]
    ).fetchone()
    if installed is not None and installed[1]:
        return
    try:
        if installed is None or not installed[0]:
            con.execute(f"INSTALL {literal(str(wheel_file(name)))}")
        con.execute(f"LOAD {name}")
    except duckdb.Error as error:
        raise ExtensionError(f"DuckDB extension {name!r}: {error}") from None


def offline_config(directory: Path | None = None) -> dict[str, str | bool]:
    """Connection settings for `duckdb.connect(config=...)`: no automatic download, and the
    project extension directory (created here)."""
    where = directory or extension_directory()
    where.mkdir(parents=True, exist_ok=True)
    return {**OFFLINE_CONFIG, "extension_directory": str(where)}
