"""Quality checks as Dagster asset checks: declared from the catalog, evaluated on every load."""

from __future__ import annotations

import csv
import io

import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterEventType
from typer.testing import CliRunner

from platform_assets.catalog import CatalogError
from platform_assets.cli import app
from platform_assets.platform import build_definitions
from tests.conftest import Project

ORDERS = """
    name: shop
    kind: files
    tables:
      - name: orders
        path: in/orders.csv
        on_fail: {on_fail}
        checks:
          columns:
            qty: {{min: 1}}
            note: {{nullable: true, severity: warn, str_length: {{max: 5}}}}
"""
ROWS = "id,qty,note\n1,2,ok\n2,0,ok\n3,4,much too long\n"


def evaluations(project: Project, run_id: str) -> dict[str, tuple[bool, AssetCheckSeverity, dict]]:
    found = {}
    for record in project.instance.all_logs(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ):
        evaluation = record.get_dagster_event().event_specific_data
        found[evaluation.check_name] = (
            evaluation.passed,
            evaluation.severity,
            {k: v.value for k, v in evaluation.metadata.items()},
        )
    return found


def test_each_rule_is_an_asset_check_and_error_rules_are_blocking(project: Project) -> None:
    project.source("shop", ORDERS.format(on_fail="block"))

    orders = AssetKey(["shop", "orders"])

    defs = build_definitions(project.catalog(), project.resources())

    specs = {spec.key: spec for spec in defs.get_assets_def(orders).check_specs}
    assert specs[AssetCheckKey(orders, "qty_min")].blocking is True
    assert specs[AssetCheckKey(orders, "note_str_length")].blocking is False
    assert specs[AssetCheckKey(orders, "qty_min")].description == "qty >= 1"


def test_quarantined_failures_are_warnings_with_samples_and_the_run_goes_on(
    project: Project,
) -> None:
    project.file("in/orders.csv", ROWS)
    project.source("shop", ORDERS.format(on_fail="quarantine_rows"))

    report = project.run()

    assert report.success, report.failures
    checks = evaluations(project, report.run_id)
    passed, severity, metadata = checks["qty_min"]
    assert (passed, severity) == (False, AssetCheckSeverity.WARN)
    assert metadata["failing_rows"] == 1
    assert metadata["failure_rate"] == round(1 / 3, 6)
    assert metadata["sample_failing_values"] == "[0]"
    assert metadata["rule"] == "qty >= 1"
    assert project.query("SELECT id FROM shop.orders ORDER BY id") == [(1,), (3,)]
    assert report.tables[0]["rows_quarantined"] == 1


def test_a_blocked_batch_fails_the_run_with_error_checks_and_lands_nothing(
    project: Project,
) -> None:
    project.file("in/orders.csv", ROWS)
    project.source("shop", ORDERS.format(on_fail="block"))

    report = project.run()

    assert not report.success
    assert (
        "blocked by checks (qty_min (1 failing); note_str_length (1 failing))"
        in (report.failures[0])
    )
    assert report.tables == []
    checks = evaluations(project, report.run_id)
    assert checks["qty_min"][:2] == (False, AssetCheckSeverity.ERROR)
    assert checks["note_str_length"][:2] == (False, AssetCheckSeverity.WARN)
    assert (
        project.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'shop'")
        == 0
    )
    assert project.scalar("SELECT count(*) FROM _tributary.quarantine") == 3


def test_a_model_that_cannot_be_imported_is_a_catalog_error(project: Project) -> None:
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tables:
          - {name: orders, path: in/orders.csv, checks: {schema: "nowhere.models:Orders"}}
    """,
    )

    try:
        project.catalog()
    except CatalogError as error:
        assert error.problems[0].startswith(
            "catalog/shop.yaml: tables[0].checks: schema: cannot import nowhere.models:Orders"
        )
    else:
        raise AssertionError("the catalog loaded")


def test_report_checks_summarises_pass_rates_per_source(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.file("in/orders.csv", ROWS)
    project.source("shop", ORDERS.format(on_fail="quarantine_rows"))
    project.run()
    project.run()
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(project.root / "warehouse.duckdb"))

    result = CliRunner().invoke(app, ["report", "--checks", "--format", "csv"])

    assert result.exit_code == 0, result.output
    lines = list(csv.reader(io.StringIO(result.output)))
    assert lines[:2] == [
        ["source", "check evaluations", "pass rate", "rows quarantined"],
        ["shop", "4", "0.0%", "1"],  # the file read again: its bad row is quarantined once
    ]
    rules = {row[2]: row for row in lines[3:]}
    assert rules["qty_min"][4:7] == ["2", "0.0%", "2"]
    assert rules["note_str_length"][4:7] == ["2", "0.0%", "2"]
