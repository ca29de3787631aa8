"""Counting rule failures inside DuckDB: what a rule costs depends on what it has to read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
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
    con: duckdb.DuckDBPyConnection, profile: Path, checks: dict[str, Any], table: str = "items"
) -> tuple[dict[str, RuleCount], int]:
    """Count `checks`' failures on `table`; also return how many rows the last query read from
    it, from DuckDB's own profile of the query."""
    compiled = compile_checks(TableChecks.model_validate(checks))
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.execute("""SET custom_profiling_settings = '{"CUMULATIVE_ROWS_SCANNED": "true"}'""")
    counts = count_failures(compiled, con, table, keep_rows=False, rows=10_000)
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


def test_the_statistics_answer_a_range_rule_on_a_column_with_nulls_too(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Nulls pass a range rule (`nullable` judges them), so the statistics still answer it."""
    con.execute(
        "CREATE TABLE parcels AS SELECT CASE WHEN range % 10 = 0 THEN NULL"
        " ELSE (range % 500) / 2 END::DOUBLE AS weight FROM range(10000)"
    )

    counts, scanned = rows_scanned_while(
        con, tmp_path / "profile.json", {"columns": {"weight": {"max": 1000}}}, table="parcels"
    )

    assert counts["weight_max"].failures == 0
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


def plan_of(
    con: duckdb.DuckDBPyConnection, profile: Path, table: str, checks: dict[str, Any]
) -> list[tuple[str, int, str]]:
    """Count the failures of `checks` on `table`; return the plan DuckDB ran for the last query,
    as (operator, rows out, details) from the top down."""
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    compiled = compile_checks(TableChecks.model_validate(checks))
    count_failures(compiled, con, table, keep_rows=False, rows=10_000)
    con.execute("PRAGMA disable_profiling")
    plan: list[tuple[str, int, str]] = []
    node = json.loads(profile.read_text())["children"][0]
    while node:
        plan.append((node["operator_name"], node["operator_cardinality"], str(node["extra_info"])))
        node = node["children"][0] if node["children"] else None
    return plan


def plan_of_a_regex_rule(
    con: duckdb.DuckDBPyConnection, profile: Path, column: str
) -> list[tuple[str, int, str]]:
    return plan_of(con, profile, "codes", {"columns": {column: {"regex": r"^A-\d+$"}}})


def test_an_exact_length_is_computed_once_per_value(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """`str_length: {min: 8, max: 8}` is one comparison; as a range DuckDB would compute each
    value's length twice, once per bound."""
    con.execute("CREATE TABLE refs AS SELECT printf('%08d', range) AS ref FROM range(10000)")

    plan = plan_of(
        con,
        tmp_path / "profile.json",
        "refs",
        {"columns": {"ref": {"str_length": {"min": 8, "max": 8}}}},
    )

    lengths = [details.count("length(") for _, _, details in plan if "length(" in details]
    assert lengths and max(lengths) == 1


@pytest.fixture
def codes(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """10,000 rows: `repeated` holds 50 codes, 200 rows each; `distinct` a code per row."""
    con.execute(
        "CREATE TABLE codes AS SELECT 'A-' || (range % 50) AS repeated, 'A-' || range AS distinct"
        " FROM range(10000)"
    )
    return con


def test_a_regex_on_a_column_that_repeats_its_values_runs_once_per_distinct_value(
    codes: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """DuckDB's statistics estimate the distinct values of every column; where they are few, a
    regex (the costliest rule per row) judges each value once instead of each row."""
    plan = plan_of_a_regex_rule(codes, tmp_path / "profile.json", "repeated")

    regex = next(i for i, (_, _, details) in enumerate(plan) if "regexp" in details)
    assert ("HASH_GROUP_BY", 50) in [(operator, rows) for operator, rows, _ in plan[regex:]]


def test_a_regex_on_a_column_of_distinct_values_runs_on_every_row(
    codes: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Grouping 10,000 distinct values would cost more than the regex it saves."""
    plan = plan_of_a_regex_rule(codes, tmp_path / "profile.json", "distinct")

    assert "HASH_GROUP_BY" not in [operator for operator, _, _ in plan]
    assert any("regexp" in details for _, _, details in plan)


def test_rules_judged_per_distinct_value_count_every_row_that_fails_them(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """One bad code held by 200 rows is 200 failures, and those rows are the ones set aside. A
    null fails `nullable: false` once per row, and is no failure of the regex."""
    con.execute(
        "CREATE TABLE codes AS SELECT range AS id, CASE WHEN range % 50 = 7 THEN 'bad'"
        " WHEN range % 50 = 8 THEN NULL ELSE 'A-' || (range % 50) END AS code FROM range(10000)"
    )
    checks = {"columns": {"code": {"regex": r"^A-\d+$", "nullable": False}}}
    compiled = compile_checks(TableChecks.model_validate(checks))

    counts = count_failures(compiled, con, "codes", keep_rows=True, rows=10_000)

    bad_code, null_code = counts["code_regex"], counts["code_not_null"]
    assert (bad_code.failures, null_code.failures) == (200, 200)
    assert bad_code.samples == ["bad"] * 5
    assert bad_code.failing_rows == [row for row in range(10000) if row % 50 == 7]
    assert null_code.failing_rows == [row for row in range(10000) if row % 50 == 8]


@pytest.fixture
def orders(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """10,000 orders with failures in several rules: a negative quantity every 1,000th row, a
    null amount every 2,500th, a refund larger than the amount every 3,000th, and an email
    (50 addresses, repeating) with a comma every 50th row."""
    con.execute(
        "CREATE TABLE orders AS SELECT range AS id,"
        " CASE WHEN range % 1000 = 3 THEN -range ELSE range % 7 END AS qty,"
        " CASE WHEN range % 2500 = 4 THEN NULL ELSE (range % 90 + 10)::DECIMAL(8, 2) END AS amount,"
        " CASE WHEN range % 3000 = 5 THEN 500 ELSE 1 END::DECIMAL(8, 2) AS refund,"
        " 'c' || (range % 50) || CASE WHEN range % 50 = 6 THEN '@x,com' ELSE '@x.com' END AS email"
        " FROM range(10000)"
    )
    return con


ORDER_CHECKS = {
    "columns": {
        "qty": {"min": 0},
        "amount": {"nullable": False},
        "email": {"regex": r"^c\d+@x\.com$"},
    },
    "expressions": [{"name": "refund_within_amount", "expr": "refund <= amount"}],
}


def test_quarantine_finds_every_failing_row_of_every_rule_with_samples_in_row_order(
    orders: duckdb.DuckDBPyConnection,
) -> None:
    """With `keep_rows`, each failing rule gets its count, all its failing row ids in row order,
    and the values of its first five failing rows; the regex (judged per distinct email) finds
    every row holding a failing address."""
    compiled = compile_checks(TableChecks.model_validate(ORDER_CHECKS))

    counts = count_failures(compiled, orders, "orders", keep_rows=True, rows=10_000)

    assert {name: c.failures for name, c in counts.items()} == {
        "qty_min": 10,
        "amount_not_null": 4,
        "email_regex": 200,
        "refund_within_amount": 4,
    }
    assert counts["qty_min"].failing_rows == list(range(3, 10000, 1000))
    assert counts["qty_min"].samples == [-3, -1003, -2003, -3003, -4003]
    assert counts["amount_not_null"].failing_rows == [4, 2504, 5004, 7504]
    assert counts["amount_not_null"].samples == [None] * 4
    assert counts["email_regex"].failing_rows == list(range(6, 10000, 50))
    assert counts["email_regex"].samples == ["c6@x,com"] * 5
    assert counts["refund_within_amount"].failing_rows == [5, 3005, 6005, 9005]
    assert counts["refund_within_amount"].samples == [
        {"amount": Decimal(f"{row % 90 + 10}.00"), "refund": Decimal("500.00")}
        for row in (5, 3005, 6005, 9005)
    ]


def test_quarantine_and_counting_alone_agree_on_counts_and_samples(
    orders: duckdb.DuckDBPyConnection,
) -> None:
    """Collecting row ids changes nothing else the gate reports."""
    compiled = compile_checks(TableChecks.model_validate(ORDER_CHECKS))

    kept = count_failures(compiled, orders, "orders", keep_rows=True, rows=10_000)
    counted = count_failures(compiled, orders, "orders", keep_rows=False, rows=10_000)

    assert {n: (c.failures, c.samples) for n, c in kept.items()} == {
        n: (c.failures, c.samples) for n, c in counted.items()
    }
    assert all(not c.failing_rows for c in counted.values())


def test_quarantine_reads_no_rows_where_the_statistics_prove_every_rule_holds(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """With `keep_rows`, the rules of every column are one scan flagging the failing rows; its
    filter still reaches the zone maps, so a batch that passes is answered without reading it."""
    compiled = compile_checks(
        TableChecks.model_validate({"columns": {"qty": {"min": 0, "max": 5}}})
    )
    profile = tmp_path / "profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.execute("""SET custom_profiling_settings = '{"CUMULATIVE_ROWS_SCANNED": "true"}'""")
    counts = count_failures(compiled, con, "items", keep_rows=True, rows=10_000)
    con.execute("PRAGMA disable_profiling")

    assert {name: c.failures for name, c in counts.items()} == {"qty_min": 0, "qty_max": 0}
    assert int(json.loads(profile.read_text())["cumulative_rows_scanned"]) == 0


@pytest.mark.parametrize("keep_rows", [True, False])
def test_membership_rules_pass_nulls_and_judge_every_other_value(
    con: duckdb.DuckDBPyConnection, keep_rows: bool
) -> None:
    """`isin` fails the values outside its list and `notin` those inside it, quotes and all; a
    null is neither (only `nullable` judges nulls). Beside a regex on the same column, which is
    judged once per distinct value, `isin` is judged per value too and finds the same rows."""
    con.execute(
        "CREATE TABLE tags AS SELECT range AS id,"
        " CASE range % 4 WHEN 0 THEN 'o''brien' WHEN 1 THEN 'ok' WHEN 2 THEN NULL ELSE 'x' END"
        " AS tag, range % 10 AS level, ('t' || (range % 5)) AS code FROM range(1000)"
    )
    checks = {
        "columns": {
            "tag": {"isin": ["o'brien", "ok"]},
            "level": {"isin": [0, 1, 2, 3, 4, 5, 6, 9]},
            "code": {"isin": ["t0", "t1", "t2", "t3"], "regex": r"^t[0-3]$"},
        }
    }
    compiled = compile_checks(TableChecks.model_validate(checks))

    counts = count_failures(compiled, con, "tags", keep_rows=keep_rows, rows=1000)

    assert {name: c.failures for name, c in counts.items()} == {
        "tag_isin": 250,
        "level_isin": 200,
        "code_isin": 200,
        "code_regex": 200,
    }
    assert counts["tag_isin"].samples == ["x"] * 5
    assert counts["level_isin"].samples == [7, 8, 7, 8, 7]
    if keep_rows:
        assert counts["tag_isin"].failing_rows == list(range(3, 1000, 4))
        assert counts["code_isin"].failing_rows == list(range(4, 1000, 5))
        assert counts["code_regex"].failing_rows == counts["code_isin"].failing_rows
