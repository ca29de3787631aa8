"""Counting rule failures inside DuckDB: what a rule costs depends on what it has to read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from checks.evaluate import RuleCount, count_failures
from checks.rules import compile_checks
from platform_assets.config.checks import TableChecks


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A warehouse file with 10,000 items whose `qty` runs from 1 to 5."""
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute(
        "CREATE TABLE items AS SELECT range AS id, range % 5 + 1 AS qty FROM range(10000)"
    )
    yield connection
    connection.close()


def rows_scanned_while(
    con: duckdb.DuckDBPyConnection, profile: Path, checks: dict[str, Any]
) -> tuple[dict[str, RuleCount], int]:
    """Count `checks`' failures on `items`; also return how many rows the last query read from
    the table, from DuckDB's own profile of it."""
    compiled = compile_checks(TableChecks.model_validate(checks))
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.execute("""SET custom_profiling_settings = '{"CUMULATIVE_ROWS_SCANNED": "true"}'""")
    counts = count_failures(compiled, con, "items", keep_rows=False)
    con.execute("PRAGMA disable_profiling")
    return counts, int(json.loads(profile.read_text())["cumulative_rows_scanned"])


def test_a_range_rule_the_column_statistics_satisfy_reads_no_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """A column's rules are one filter DuckDB pushes into the scan, so the zone maps (each row
    group's min and max) answer it: `qty >= 0` and `qty <= 5` hold for every row group without a
    row being read."""
    counts, scanned = rows_scanned_while(
        con, tmp_path / "profile.json", {"columns": {"qty": {"min": 0, "max": 5}}}
    )

    assert {name: count.failures for name, count in counts.items()} == {
        "qty_min": 0,
        "qty_max": 0,
    }
    assert scanned == 0


def test_rules_on_one_column_read_it_once_when_the_statistics_cannot_answer_them(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    checks = {
        "columns": {"qty": {"isin": [1, 2, 3, 4, 5]}},
        "expressions": [{"name": "qty_is_whole", "expr": "qty % 1 = 0"}],
    }

    counts, scanned = rows_scanned_while(con, tmp_path / "profile.json", checks)

    assert {name: count.failures for name, count in counts.items()} == {
        "qty_isin": 0,
        "qty_is_whole": 0,
    }
    assert scanned == 10_000
