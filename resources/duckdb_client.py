"""Working around DuckDB's Python client where it costs every load time."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

import duckdb


class _PandasIsMissing(importlib.abc.MetaPathFinder):
    """Answers `import pandas` with Python's own error at once, without searching `sys.path`."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas":
            raise ModuleNotFoundError("No module named 'pandas'", name="pandas")
        return None


def remember_missing_pandas() -> None:
    """Make `import pandas` fail at once when pandas is not installed, as it would anyway.

    DuckDB's client tries to import pandas whenever it converts a Python value (a statement's
    parameters, each constant of a narwhals expression) and does not remember that it failed:
    every attempt searches `sys.path` again. The quality gate alone builds about 75 constants.
    The error is Python's usual one, word for word: pandera tells "pandas is not installed"
    from other import errors by that text.
    """
    if "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None:
        return
    if not any(isinstance(finder, _PandasIsMissing) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PandasIsMissing())


def scratch_connection() -> duckdb.DuckDBPyConnection:
    """A connection for work that reads no database (planning a file scan, minting an id): a
    cursor on the process's in-memory DuckDB. Starting a new in-memory database costs ~20 ms,
    a cursor on an existing one nothing."""
    return duckdb.default_connection().cursor()
