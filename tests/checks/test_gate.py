"""The quality gate: every rule kind passes and fails, and `on_fail` decides what lands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from checks.gate import CheckSetupError, QualityGate
from checks.rules import compile_checks
from platform_assets.config.base import TableConfig
from resources.warehouse import LoadResult, Warehouse
from resources.write_dispositions import WriteSpec


def table_config(checks: dict[str, Any], on_fail: str = "block", **extra: Any) -> TableConfig:
    return TableConfig.model_validate(
        {"name": "items", "checks": checks, "on_fail": on_fail, **extra}
    )


def land(
    warehouse: Warehouse,
    rows: list[dict[str, Any]],
    checks: dict[str, Any] | None = None,
    on_fail: str = "block",
    cursor: str | None = None,
    table: str = "items",
) -> LoadResult:
    config = table_config(checks or {}, on_fail).model_copy(update={"name": table})
    gate = QualityGate("src", config, compile_checks(config.checks))
    with warehouse.load("src", table) as load:
        load.stage(pa.Table.from_pylist(rows))
        return load.commit(WriteSpec("src", table, "append"), cursor, gate)


def outcome(result: LoadResult, name: str) -> tuple[bool, int]:
    assert result.verdict is not None
    found = next(o for o in result.verdict.outcomes if o.rule.name == name)
    return found.passed, found.failures


GOOD = [
    {"id": 1, "qty": 2, "status": "paid", "email": "a@b.io"},
    {"id": 2, "qty": 5, "status": "shipped", "email": "c@d.io"},
]
BAD = [
    {"id": 1, "qty": 0, "status": "lost", "email": "nope"},
    {"id": 1, "qty": None, "status": "paid", "email": "toolongaddress@example.io"},
]


@pytest.mark.parametrize(
    ("checks", "rule", "bad_failures"),
    [
        ({"columns": {"qty": {"min": 1}}}, "qty_min", 1),
        ({"columns": {"qty": {"max": 5}}}, "qty_max", 0),
        ({"columns": {"qty": {"nullable": False}}}, "qty_not_null", 1),
        ({"columns": {"id": {"unique": True}}}, "id_unique", 1),
        ({"columns": {"status": {"isin": ["paid", "shipped"]}}}, "status_isin", 1),
        ({"columns": {"email": {"regex": "^[^@]+@[^@]+$"}}}, "email_regex", 1),
        ({"columns": {"email": {"str_length": {"max": 10}}}}, "email_str_length", 1),
        ({"columns": {"email": {"str_length": {"min": 6, "max": 6}}}}, "email_str_length", 2),
        ({"columns": {"status": {"dtype": "VARCHAR"}, "qty": {"dtype": "BIGINT"}}}, "qty_dtype", 0),
        ({"columns": {"status": {"dtype": "text"}, "qty": {"dtype": "int64"}}}, "status_dtype", 0),
        (
            {"expressions": [{"name": "lost_has_qty", "expr": "qty > 0 or status <> 'lost'"}]},
            "lost_has_qty",
            1,
        ),
        ({"row_count": {"min": 1, "max": 1}}, "row_count", 2),
    ],
)
def test_each_rule_passes_on_good_rows_and_fails_on_bad(
    warehouse: Warehouse, checks: dict[str, Any], rule: str, bad_failures: int
) -> None:
    good = land(warehouse, GOOD if rule != "row_count" else GOOD[:1], checks, on_fail="warn")
    bad = land(warehouse, BAD, checks, on_fail="warn")

    assert outcome(good, rule) == (True, 0)
    if bad_failures:
        assert outcome(bad, rule) == (False, bad_failures)


def test_a_dtype_mismatch_fails(warehouse: Warehouse) -> None:
    result = land(warehouse, GOOD, {"columns": {"qty": {"dtype": "string"}}}, on_fail="warn")

    assert outcome(result, "qty_dtype") == (False, 2)
    assert result.verdict is not None
    assert result.verdict.outcomes[0].detail == "qty is BIGINT, expected VARCHAR"


def test_references_look_up_the_warehouse(warehouse: Warehouse) -> None:
    land(warehouse, [{"customer_id": 7}], table="customers")
    checks = {"references": [{"column": "cid", "to": "src.customers.customer_id"}]}

    result = land(warehouse, [{"cid": 7}, {"cid": 8}, {"cid": None}], checks, on_fail="warn")

    assert outcome(result, "references_cid") == (False, 1)
    assert result.verdict is not None and result.verdict.outcomes[0].samples == [8]


def test_max_age_compares_the_newest_timestamp_with_now(warehouse: Warehouse) -> None:
    checks = {"max_age": {"column": "at", "max_age": "1h"}}
    fresh = land(warehouse, [{"at": datetime.now(UTC)}], checks, on_fail="warn")
    stale = land(
        warehouse, [{"at": datetime.now(UTC) - timedelta(hours=3)}], checks, on_fail="warn"
    )

    assert outcome(fresh, "max_age_at") == (True, 0)
    assert outcome(stale, "max_age_at")[0] is False


def test_volume_anomaly_compares_with_the_last_loads(warehouse: Warehouse) -> None:
    checks = {"volume_anomaly": {"lookback": 5, "tolerance": 0.5}}
    for _ in range(3):
        first = land(warehouse, [{"v": i} for i in range(10)], checks, on_fail="warn")

    normal = land(warehouse, [{"v": i} for i in range(12)], checks, on_fail="warn")
    spike = land(warehouse, [{"v": i} for i in range(40)], checks, on_fail="warn")

    assert outcome(first, "volume_anomaly") == (True, 0)
    assert outcome(normal, "volume_anomaly") == (True, 0)
    assert outcome(spike, "volume_anomaly") == (False, 40)


def test_schema_change_compares_with_the_last_load(warehouse: Warehouse) -> None:
    checks = {"schema_change": {}}
    land(warehouse, [{"id": 1}], checks, on_fail="warn")

    same = land(warehouse, [{"id": 2}], checks, on_fail="warn")
    changed = land(warehouse, [{"id": 3, "extra": "x"}], checks, on_fail="warn")

    assert outcome(same, "schema_change")[0] is True
    assert outcome(changed, "schema_change")[0] is False
    assert changed.verdict is not None and "+extra VARCHAR" in changed.verdict.outcomes[0].detail


def test_block_lands_nothing_keeps_the_cursor_and_quarantines_the_batch(
    warehouse: Warehouse,
) -> None:
    checks = {"columns": {"qty": {"min": 1}}}
    land(warehouse, GOOD, checks, cursor="c1")

    result = land(warehouse, GOOD + BAD, checks, cursor="c2")

    assert result.blocked and result.quarantined == 4
    with warehouse.read_only() as con:
        assert con.execute("SELECT count(*) FROM src.items").fetchone() == (2,)
        assert con.execute("SELECT cursor_value FROM _tributary.state").fetchone() == ("c1",)
        assert con.execute(
            "SELECT count(*), any_value(reasons) FROM _tributary.quarantine "
            f"WHERE load_id = '{result.load_id}'"
        ).fetchone() == (4, ["qty_min"])
        assert con.execute(
            f"SELECT status FROM _tributary.loads WHERE load_id = '{result.load_id}'"
        ).fetchone() == ("blocked",)


def test_quarantine_rows_lands_the_good_rows_and_sets_the_bad_aside_with_reasons(
    warehouse: Warehouse,
) -> None:
    checks = {
        "columns": {"qty": {"min": 1, "nullable": False}, "status": {"isin": ["paid", "shipped"]}}
    }

    result = land(warehouse, GOOD + BAD, checks, on_fail="quarantine_rows", cursor="c1")

    assert not result.blocked and result.quarantined == 2
    with warehouse.read_only() as con:
        assert con.execute("SELECT id, qty FROM src.items ORDER BY qty").fetchall() == [
            (1, 2),
            (2, 5),
        ]
        reasons = con.execute(
            "SELECT record->>'status', list_sort(reasons) FROM _tributary.quarantine ORDER BY 1"
        ).fetchall()
        assert reasons == [("lost", ["qty_min", "status_isin"]), ("paid", ["qty_not_null"])]
        assert con.execute("SELECT cursor_value FROM _tributary.state").fetchone() == ("c1",)


def test_quarantine_rows_blocks_on_a_failing_table_rule(warehouse: Warehouse) -> None:
    result = land(warehouse, GOOD, {"row_count": {"min": 5}}, on_fail="quarantine_rows")

    assert result.blocked


def test_warn_lands_everything_and_reports(warehouse: Warehouse) -> None:
    result = land(warehouse, BAD, {"columns": {"qty": {"min": 1}}}, on_fail="warn")

    assert not result.blocked
    assert outcome(result, "qty_min") == (False, 1)
    assert result.metadata()["checks"] == "qty_min (1 failing)"
    assert 0 < result.metadata()["check_seconds"] < result.commit_seconds
    with warehouse.read_only() as con:
        assert con.execute("SELECT count(*) FROM src.items").fetchone() == (2,)
        assert con.execute(
            "SELECT passed, failures, samples FROM _tributary.check_results"
        ).fetchone() == (False, 1, "[0]")


def test_a_dataframe_model_and_its_frame_level_check_fail_together(warehouse: Warehouse) -> None:
    rows = [{"quantity": 0, "status": "paid"}, {"quantity": 2, "status": "lost"}]

    result = land(warehouse, rows, {"schema": "tests.checks.models:Orders"}, on_fail="warn")

    assert outcome(result, "quantity_greater_than_or_equal_to") == (False, 1)
    assert outcome(result, "status_isin") == (False, 1)
    assert outcome(result, "at_least_three_orders") == (False, 1)


def test_a_check_on_a_column_the_batch_lacks_is_a_clear_error(warehouse: Warehouse) -> None:
    with pytest.raises(
        CheckSetupError,
        match="checks name column\\(s\\) the batch does not have: price \\(it has: id, qty",
    ):
        land(warehouse, GOOD, {"columns": {"price": {"min": 0}}})


def test_expressions_are_duckdb_sql(warehouse: Warehouse) -> None:
    checks = {"expressions": [{"name": "email_has_at", "expr": "regexp_matches(email, '@')"}]}

    result = land(warehouse, BAD, checks, on_fail="warn")

    assert outcome(result, "email_has_at") == (False, 1)
    assert result.verdict is not None
    assert result.verdict.outcomes[0].samples == ["nope"]


def test_an_expression_may_read_no_column(warehouse: Warehouse) -> None:
    checks = {"expressions": [{"name": "never", "expr": "1 = 2"}]}

    result = land(warehouse, GOOD, checks, on_fail="warn")

    assert outcome(result, "never") == (False, 2)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("qty >", "is not valid SQL"),
        ("qty > 0; DROP TABLE src.items", "must be one condition"),
        ("count(*) > 1", "must be a condition on one row"),
    ],
)
def test_an_expression_that_is_not_a_row_condition_is_refused_when_the_catalog_loads(
    expr: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        table_config({"expressions": [{"name": "rule", "expr": expr}]})


def test_rules_count_in_the_warehouse_without_exporting_the_batch(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built-in checks, `nullable` and expressions are one DuckDB query; polars is not needed."""
    import checks.evaluate

    def no_export(*_args: Any) -> None:
        raise AssertionError("the batch left DuckDB")

    monkeypatch.setattr(checks.evaluate.pl, "from_arrow", no_export)
    checks_ = {
        "columns": {"qty": {"min": 1, "nullable": False}, "status": {"isin": ["paid"]}},
        "expressions": [{"name": "lost_has_qty", "expr": "qty > 0 or status <> 'lost'"}],
    }

    result = land(warehouse, BAD, checks_, on_fail="warn")

    assert [(o.rule.name, o.failures) for o in result.verdict.outcomes] == [  # type: ignore[union-attr]
        ("qty_min", 1),
        ("qty_not_null", 1),
        ("status_isin", 1),
        ("lost_has_qty", 1),
    ]


def test_a_merge_counts_its_primary_key_once_and_judges_it_after_resolving_repeats(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`unique: true` on the primary key is counted once per load, when the merge resolves the
    batch's repeated keys (the latest row wins); the gate then judges the rows that would land,
    reusing that count, so the key is unique."""
    import checks.gate
    import resources.write_dispositions
    from resources.uniqueness import key_counts

    counted: list[list[str]] = []

    def counting(con: Any, relation: str, columns: list[str]) -> Any:
        counted.append(list(columns))
        return key_counts(con, relation, columns)

    monkeypatch.setattr(checks.gate, "key_counts", counting)
    monkeypatch.setattr(resources.write_dispositions, "key_counts", counting)
    config = table_config({"columns": {"id": {"unique": True}}}, on_fail="warn")
    gate = QualityGate("src", config, compile_checks(config.checks))
    rows = [{"id": 1, "qty": 1}, {"id": 2, "qty": 2}, {"id": 1, "qty": 3}]

    with warehouse.load("src", "items") as load:
        load.stage(pa.Table.from_pylist(rows))
        result = load.commit(WriteSpec("src", "items", "merge", primary_key=("id",)), None, gate)

    assert counted == [["id"]]
    assert outcome(result, "id_unique") == (True, 0)
    assert result.superseded == 1
    with warehouse.read_only() as con:
        assert con.execute("SELECT id, qty FROM src.items ORDER BY id").fetchall() == [
            (1, 3),
            (2, 2),
        ]


def test_a_merge_recounts_its_key_when_quarantine_took_rows_out(warehouse: Warehouse) -> None:
    """The gate's count describes the batch before quarantine. Once rows have left, the merge
    counts again: a null key that went to quarantine does not fail the merge."""
    config = table_config(
        {"columns": {"id": {"unique": True, "nullable": False}}}, on_fail="quarantine_rows"
    )
    gate = QualityGate("src", config, compile_checks(config.checks))
    rows = [{"id": 1, "qty": 1}, {"id": None, "qty": 0}, {"id": 2, "qty": 2}]

    with warehouse.load("src", "items") as load:
        load.stage(pa.Table.from_pylist(rows))
        result = load.commit(WriteSpec("src", "items", "merge", primary_key=("id",)), None, gate)

    assert result.quarantined == 1 and result.inserted == 2
    with warehouse.read_only() as con:
        assert con.execute("SELECT id, qty FROM src.items ORDER BY id").fetchall() == [
            (1, 1),
            (2, 2),
        ]


def test_checks_find_their_columns_whatever_the_case_of_the_header(warehouse: Warehouse) -> None:
    """DuckDB's names ignore case, and so do the checks: `email` is the header's `Email`."""
    checks = {
        "columns": {
            "email": {"regex": "^[^@]+@[^@]+$", "dtype": "varchar", "nullable": False},
            "qty": {"min": 1},
        },
    }

    result = land(warehouse, [{"Email": "a@b.io", "QTY": 0}, {"Email": "nope", "QTY": 2}], checks)

    assert outcome(result, "email_regex") == (False, 1)
    assert outcome(result, "email_dtype") == (True, 0)
    assert outcome(result, "qty_min") == (False, 1)
