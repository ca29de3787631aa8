"""Working around DuckDB's Python client where it costs every load time."""

from __future__ import annotations

import importlib.util
import sys

import duckdb


def remember_missing_pandas() -> None:
    """Make `import pandas` fail at once when pandas is not installed, as it would anyway.

    DuckDB's client tries to import pandas whenever it converts a Python value (a statement's
    parameters, each constant of a narwhals expression) and does not remember that it failed:
    every attempt searches `sys.path` again. The quality gate alone builds about 75 constants.
    `None` in `sys.modules` is Python's own record of a module that cannot be imported.

    Only where numpy is missing too: with numpy, pyarrow reads `sys.modules["pandas"]` and
    takes a `None` there for the module itself, and pandera tells "not installed" from other
    import errors by the error's text, which `None` changes.
    """
    if "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None:
        return
    if importlib.util.find_spec("numpy") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]


def scratch_connection() -> duckdb.DuckDBPyConnection:
    """A connection for work that reads no database (planning a file scan, minting an id): a
    cursor on the process's in-memory DuckDB. Starting a new in-memory database costs ~20 ms,
    a cursor on an existing one nothing."""
    return duckdb.default_connection().cursor()
