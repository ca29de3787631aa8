"""DuckDB's client, as the platform leaves it once `resources` is imported."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from types import ModuleType

import duckdb
import pytest

import resources  # noqa: F401  (what every load imports first)


class LookupSpy:
    """A finder that records which modules the import system looked for, and finds none."""

    def __init__(self) -> None:
        self.looked_for: list[str] = []

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.looked_for.append(name)
        return None


@pytest.fixture
def spy() -> Iterator[LookupSpy]:
    finder = LookupSpy()
    sys.meta_path.insert(0, finder)
    yield finder
    sys.meta_path.remove(finder)


@pytest.mark.skipif(
    importlib.util.find_spec("pandas") is not None or importlib.util.find_spec("numpy") is not None,
    reason="only without pandas and numpy",
)
def test_statements_with_parameters_do_not_search_for_a_missing_pandas(spy: LookupSpy) -> None:
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (n INTEGER, word VARCHAR)")
        for n in range(5):
            con.execute("INSERT INTO t VALUES (?, ?)", [n, "x"])

    assert "pandas" not in spy.looked_for


@pytest.mark.skipif(
    importlib.util.find_spec("pandas") is not None or importlib.util.find_spec("numpy") is None,
    reason="only matters with numpy and without pandas",
)
def test_pandera_and_pyarrow_still_work_after_resources_where_numpy_is_installed() -> None:
    """With numpy installed, pandera tries pandas and tells "not installed" from other import
    errors by the error's text, and pyarrow reads `sys.modules["pandas"]` as the module itself:
    remembering the missing pandas must change neither."""
    import subprocess

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resources, pandera.polars, pyarrow as pa; pa.array([1]).to_pylist()",
        ],
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr
