"""`tributary report`: success and error rates, p50/p95 durations and rows per source."""

import csv
import io
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from typer.testing import CliRunner

from platform_assets.cli import app
from platform_assets.report import load_report
from tests.conftest import Project

NOW = datetime.now(UTC)


def _load(
    con: duckdb.DuckDBPyConnection,
    n: int,
    source: str,
    seconds: float,
    rows: int,
    status: str = "succeeded",
    age: timedelta = timedelta(hours=1),
    error: str = "boom",
) -> None:
    started = NOW - age
    con.execute(
        "INSERT INTO _tributary.loads (load_id, run_id, source, table_name, write, status, "
        "rows_in, rows_inserted, rows_updated, bytes, requests, retries, started_at, "
        "finished_at, error) VALUES (?, ?, ?, 't', 'merge', ?, ?, ?, 1, 100, 2, 1, ?, ?, ?)",
        [
            f"l{n}",
            f"r{n}",
            source,
            status,
            rows,
            rows // 2,  # half the rows read are new, one updates a row: the rest are unchanged
            started,
            started + timedelta(seconds=seconds),
            error if status == "failed" else None,
        ],
    )


def _history(con: duckdb.DuckDBPyConnection) -> None:
    for n, seconds in enumerate([1, 2, 3, 4]):
        _load(con, n, "crm", seconds, 10)
    _load(con, 4, "crm", 10, 99, status="failed")
    _load(con, 5, "shop", 5, 7)
    _load(con, 6, "shop", 100, 1000, age=timedelta(days=30))


@pytest.fixture
def history(project: Project) -> Project:
    project.warehouse.transaction(_history)
    return project


def test_figures_per_source(history: Project) -> None:
    with history.warehouse.read_only() as con:
        report = load_report(con, NOW - timedelta(days=7))

    rows = {r[0]: dict(zip(report.headers, r, strict=True)) for r in report.rows}
    crm, shop = rows["crm"], rows["shop"]
    assert (crm["runs"], crm["loads"], crm["succeeded"], crm["failed"]) == (5, 5, 4, 1)
    assert (crm["success_rate"], crm["error_rate"]) == ("80.0%", "20.0%")
    assert crm["p50_seconds"] == 3.0
    assert crm["p95_seconds"] == pytest.approx(8.8)
    assert crm["rows_read"] == 40, "failed loads' rows are not counted"
    assert crm["rows_landed"] == 4 * (5 + 1), "rows landed: inserted plus updated"
    assert (crm["bytes"], crm["requests"], crm["retries"]) == (500, 10, 5)
    assert crm["last_error"] == "boom"
    assert (shop["loads"], shop["rows_read"], shop["p95_seconds"]) == (1, 7, 5.0), "--since ignored"


def test_cli_report_as_csv(history: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(history.root / "warehouse.duckdb"))

    result = CliRunner().invoke(app, ["report", "--since", "60d", "--format", "csv"])

    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["source"], r["loads"], r["rows_read"], r["rows_landed"]) for r in table] == [
        ("crm", "5", "40", "24"),
        ("shop", "2", "1007", "505"),
    ]
    assert [r["success_rate"] for r in table] == ["80.0%", "100.0%"]


def test_both_reports_print_rates_alike(history: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(history.root / "warehouse.duckdb"))
    history.warehouse.transaction(
        lambda con: con.execute(
            "INSERT INTO _tributary.check_results (load_id, source, table_name, check_name, "
            "severity, passed, failures, rows_checked, rule, checked_at) VALUES "
            "('l1', 'crm', 't', 'id_unique', 'error', true, 0, 9, 'id is unique', now()), "
            "('l2', 'crm', 't', 'id_unique', 'error', false, 3, 9, 'id is unique', now()), "
            "('l3', 'crm', 't', 'id_unique', 'error', true, 0, 9, 'id is unique', now())"
        )
    )

    loads = CliRunner().invoke(app, ["report", "--format", "json"])
    checks = CliRunner().invoke(app, ["report", "--checks", "--format", "json"])

    assert loads.exit_code == 0 and checks.exit_code == 0, loads.output + checks.output
    assert '"success_rate": "80.0%"' in loads.output
    assert '"pass rate": "66.7%"' in checks.output


def test_cli_report_rejects_a_bad_window(history: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(history.root / "warehouse.duckdb"))
    assert CliRunner().invoke(app, ["report", "--since", "a week"]).exit_code != 0


def test_the_last_error_is_one_line_naming_the_file(project: Project) -> None:
    """DuckDB's CSV errors run to twenty lines (suggested fixes, the reader's settings); the
    report keeps the first paragraph and the file on one line."""
    message = (
        "source 'crm', table 't': Conversion Error: CSV Error on Line: 3\n"
        "Original Line: 2,abc\n"
        'Error when converting column "amount". Could not convert string "abc" to \'DOUBLE\'\n'
        "\n"
        "Column amount is being converted as type DOUBLE\n"
        "Possible solutions:\n"
        "* Override the type for this column manually\n"
        "\n"
        "  file = in/customers.csv\n"
        "  delimiter = , (Set By User)\n"
    )
    project.warehouse.transaction(
        lambda con: _load(con, 1, "crm", 1, 0, status="failed", error=message)
    )

    with project.warehouse.read_only() as con:
        (row,) = load_report(con, NOW - timedelta(days=1)).rows

    assert row[-1] == (
        "source 'crm', table 't': Conversion Error: CSV Error on Line: 3; Original Line: 2,abc;"
        ' Error when converting column "amount". Could not convert string "abc" to \'DOUBLE\''
        " (file in/customers.csv)"
    )
