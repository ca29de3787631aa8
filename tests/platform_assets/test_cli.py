"""The `tributary` command, run as a user would against a project in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import duckdb
import pytest
from typer.testing import CliRunner

from platform_assets.cli import app
from tests.conftest import Project

runner = CliRunner()


@pytest.fixture
def cli_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("TRIBUTARY_ROOT", str(project.root))
    monkeypatch.setenv("TRIBUTARY_CATALOG", str(project.catalog_dir))
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(project.root / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / ".dagster"))
    project.file("in/customers.csv", "id,name\n1,Ada\n2,Ben\n")
    project.file("in/orders.csv", "id,customer_id\n10,1\n")
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tags: {domain: customers}
        schedule: "0 5 * * *"
        tables: [{name: customers, path: in/customers.csv}]
    """,
    )
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tags: {domain: orders}
        tables: [{name: orders, path: in/orders.csv}]
    """,
    )
    return project


def test_sources_lists_kind_tables_tags_and_schedule(cli_project: Project) -> None:
    result = runner.invoke(app, ["sources"])

    assert result.exit_code == 0
    crm_line = next(line for line in result.output.splitlines() if line.startswith("crm"))
    assert crm_line.split()[-1] == "UTC", "the next run time ends the line"
    assert crm_line.split()[:-3] == [
        "crm",
        "files",
        "customers",
        "domain=customers",
        "0",
        "5",
        "*",
        "*",
        "*",
        "(UTC)",
    ]


def test_validate_exits_1_with_the_list_of_errors(cli_project: Project) -> None:
    cli_project.source(
        "broken", "name: broken\nkind: files\ntables: [{name: x, path: a.csv, write: upsert}]\n"
    )

    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 1
    assert "catalog/broken.yaml: tables[0].write: must be one of" in result.output


def test_run_selects_by_source_or_tag_and_query_reads_the_result(cli_project: Project) -> None:
    result = runner.invoke(app, ["run", "--tag", "domain=customers"])

    assert result.exit_code == 0, result.output
    assert "crm.customers" in result.output and "shop.orders" not in result.output
    assert (cli_project.root / ".dagster").is_dir()

    result = runner.invoke(
        app, ["query", "SELECT id, name FROM crm.customers ORDER BY id", "--format", "json"]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Ben"}]


def test_a_run_of_a_source_brings_the_models_reading_it_up_to_date(
    cli_project: Project,
) -> None:
    cli_project.file("models/names.sql", "SELECT count(*) AS n FROM crm.customers")
    cli_project.file("models/orders.sql", "SELECT count(*) AS n FROM shop.orders")
    cli_project.file("models/names_twice.sql", "SELECT n * 2 AS n FROM models.names")
    cli_project.file(  # shop.orders was never loaded: this one waits for it
        "models/both.sql", "SELECT count(*) AS n FROM crm.customers, shop.orders"
    )

    skipped = runner.invoke(app, ["run", "--source", "crm", "--no-downstream"])

    assert skipped.exit_code == 0, skipped.output
    assert "models." not in skipped.output

    result = runner.invoke(app, ["run", "--source", "crm"])

    assert result.exit_code == 0, result.output
    assert "models.names " in result.output and "models.names_twice" in result.output
    assert "models.orders" not in result.output and "shop.orders" not in result.output
    assert "models.both" not in result.output
    assert cli_project.scalar("SELECT n FROM models.names_twice") == 4


def test_a_parallel_run_prints_no_dagster_debug_lines(cli_project: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "run", "--all", "--workers", "2"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "2 tables" in done.stdout
    assert "DEBUG" not in done.stdout + done.stderr


def test_small_sources_run_in_one_process_and_large_ones_in_parallel(
    cli_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets import runner as runner_module

    sources = cli_project.catalog().sources
    assert runner_module.default_workers(sources, cpus=8) == 1

    monkeypatch.setattr(runner_module, "LARGE_SOURCE_BYTES", 10)
    assert runner_module.default_workers(sources, cpus=8) == 2
    assert runner_module.default_workers(sources, cpus=1) == 1
    assert runner_module.default_workers(sources[:1], cpus=8) == 1


def test_run_exits_non_zero_when_a_table_fails(cli_project: Project) -> None:
    cli_project.file("in/orders.csv", "id,customer_id\n10,1,extra\n11,2\n")

    result = runner.invoke(app, ["run", "--all"])

    assert result.exit_code == 1
    assert "FAILED" in result.output and "source 'shop', table 'orders'" in result.output


def test_a_run_says_how_many_tables_and_rows_it_wrote(cli_project: Project) -> None:
    result = runner.invoke(app, ["run", "--source", "crm"])

    assert result.exit_code == 0, result.output
    assert "succeeded: 1 table, 2 rows read, 2 rows landed in" in result.output

    cli_project.file("in/customers.csv", "id,name\n1,Ada\n2,Ben\n3,Cy\n")
    again = runner.invoke(app, ["run", "--source", "crm"])
    assert "1 table, 3 rows read, 3 rows landed" in again.output, "append lands all three"


def test_a_failed_run_prints_no_empty_table(cli_project: Project) -> None:
    cli_project.file("in/orders.csv", "id,customer_id\n10,1,extra\n11,2\n")

    result = runner.invoke(app, ["run", "--source", "shop"])

    assert result.exit_code == 1
    assert result.output.startswith("run "), "a header over no rows"
    assert "FAILED: 0 tables, 0 rows read, 0 rows landed" in result.output


def test_query_is_read_only(cli_project: Project) -> None:
    runner.invoke(app, ["run", "--source", "crm"])

    result = runner.invoke(app, ["query", "DROP TABLE crm.customers"])

    assert result.exit_code == 1
    assert "read-only" in result.output
    assert cli_project.scalar("SELECT count(*) FROM crm.customers") == 2


def test_a_bad_setting_is_named_and_nothing_runs(
    cli_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBUTARY_MEMORY_LIMIT", "lots")
    monkeypatch.setenv("TRIBUTARY_LOCK_TIMEOUT_SECONDS", "-1")

    result = runner.invoke(app, ["run", "--all"])

    assert result.exit_code == 1
    assert result.output.startswith("invalid setting: ")
    assert "TRIBUTARY_MEMORY_LIMIT='lots': DuckDB refuses it: Parser Error" in result.output
    assert "TRIBUTARY_LOCK_TIMEOUT_SECONDS='-1': Input should be greater than 0" in result.output
    assert not (cli_project.root / "warehouse.duckdb").exists()


def test_a_failed_run_says_what_failed_in_one_line_per_table(cli_project: Project) -> None:
    """Dagster's own log, with its stack traces, is for `--verbose`; the run ends with a line
    per table that did not load."""
    cli_project.file("in/orders.csv", "id,customer_id\n10,1,extra\n11,2\n")

    quiet = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "run", "--all", "--workers", "1"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert quiet.returncode == 1
    failed = [line for line in quiet.stderr.splitlines() if line.startswith("FAILED ")]
    assert failed == [
        "FAILED source 'shop', table 'orders': Invalid Input Error: CSV Error on Line: 2;"
        " Original Line: 10,1,extra; Expected Number of Columns: 2 Found: 3"
        f" (file {cli_project.root / 'in/orders.csv'})"
    ]
    assert "Stack Trace" not in quiet.stderr


MONEY = (
    "SELECT 459096.99::DECIMAL(18,2) AS revenue, 1234567.891::DOUBLE AS ratio,"
    " 18446744073709551615::UBIGINT AS id, 170141183460469231731687303715884105727::HUGEINT AS big,"
    " 0.0000001::DECIMAL(18,7) AS tiny, [1.10, 2.25]::DECIMAL(4,2)[] AS parts,"
    " {'net': 99.90::DECIMAL(5,2)} AS price, NULL::INTEGER AS missing"
)


@pytest.fixture
def warehouse_with_money(cli_project: Project) -> Project:
    with duckdb.connect(str(cli_project.root / "warehouse.duckdb")) as con:
        con.execute(f"CREATE TABLE sales AS {MONEY}")
    return cli_project


def test_query_prints_numbers_exactly_as_duckdb_returns_them(warehouse_with_money: Project) -> None:
    """tabulate printed 459096.99 as `459097` and 1234567.891 as `1.23457e+06`."""
    result = runner.invoke(app, ["query", "SELECT * FROM sales"])

    assert result.exit_code == 0, result.output
    header, _, row, count = result.output.splitlines()
    assert header.split() == ["revenue", "ratio", "id", "big", "tiny", "parts", "price", "missing"]
    assert [cell.strip() for cell in row.split("  ") if cell.strip()] == [
        "459096.99",
        "1234567.891",
        "18446744073709551615",
        "170141183460469231731687303715884105727",
        "0.0000001",
        "[1.10, 2.25]",
        "{'net': 99.90}",
    ]
    assert count == "(1 row)"


def test_query_csv_holds_every_digit(warehouse_with_money: Project) -> None:
    result = runner.invoke(app, ["query", "SELECT * FROM sales", "-f", "csv"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "revenue,ratio,id,big,tiny,parts,price,missing",
        "459096.99,1234567.891,18446744073709551615,170141183460469231731687303715884105727,"
        "0.0000001,\"[1.10, 2.25]\",{'net': 99.90},",
    ]


def test_query_json_keeps_decimals_and_big_integers_as_exact_numbers(
    warehouse_with_money: Project,
) -> None:
    """A DECIMAL was a string (`default=str`); it is a JSON number with its digits, as is an
    integer wider than a double, inside lists and structs too."""
    result = runner.invoke(app, ["query", "SELECT * FROM sales", "--format", "json"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        '[{"revenue": 459096.99, "ratio": 1234567.891, "id": 18446744073709551615, '
        '"big": 170141183460469231731687303715884105727, "tiny": 0.0000001, '
        '"parts": [1.10, 2.25], "price": {"net": 99.90}, "missing": null}]'
    )
    (parsed,) = json.loads(result.output, parse_float=Decimal)
    assert parsed["revenue"] == Decimal("459096.99") and parsed["id"] == 18446744073709551615


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["report"]])
def test_format_accepts_only_table_csv_or_json(
    warehouse_with_money: Project, command: list[str]
) -> None:
    result = runner.invoke(app, [*command, "--format", "yaml"])

    assert result.exit_code == 2
    assert "'yaml' is not a format: use table, csv, json" in result.output


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        pytest.param(
            "COPY (SELECT 42) TO 'x.csv'",
            'Permission Error: Cannot access file "x.csv"',
            id="COPY writes no file",
        ),
        pytest.param(
            "SELECT * FROM read_csv('/etc/passwd')",
            'Permission Error: Cannot access file "/etc/passwd"',
            id="no file is read",
        ),
        pytest.param(
            "ATTACH 'other.duckdb' AS other (READ_ONLY)",
            "Permission Error: Cannot access file",
            id="no database is attached",
        ),
        pytest.param(
            "SET memory_limit = '64GB'",
            'Cannot change configuration option "memory_limit" - the configuration has been locked',
            id="no setting is changed",
        ),
        pytest.param(
            "INSTALL httpfs",
            "Permission Error: Cannot access directory",
            id="no extension is installed",
        ),
    ],
)
def test_query_reaches_nothing_beyond_the_warehouse(
    warehouse_with_money: Project,
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    refusal: str,
) -> None:
    """`tributary query` is read-only: `COPY (SELECT 42) TO 'x.csv'` wrote a file."""
    monkeypatch.chdir(warehouse_with_money.root)
    duckdb.connect("other.duckdb").close()

    result = runner.invoke(app, ["query", sql])

    assert result.exit_code == 1
    assert result.output.startswith("query failed: ") and refusal in result.output
    assert not (warehouse_with_money.root / "x.csv").exists()


def test_a_confined_query_still_reads_the_warehouse(warehouse_with_money: Project) -> None:
    result = runner.invoke(
        app, ["query", "SELECT revenue, count(*) AS n FROM sales GROUP BY ALL", "-f", "csv"]
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["revenue,n", "459096.99,1"]


def test_an_unknown_executor_is_named_and_nothing_runs(
    cli_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBUTARY_EXECUTOR", "spark")

    result = runner.invoke(app, ["run", "--all"])

    assert result.exit_code == 1
    assert "invalid setting: TRIBUTARY_EXECUTOR='spark': must be one of default, celery" in (
        result.output
    )
    assert not (cli_project.root / "warehouse.duckdb").exists()
