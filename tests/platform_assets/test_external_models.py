"""External models: a `models/<name>.py` run through Dagster Pipes in its own process, whose
outputs land through the warehouse writer (gate, one transaction, lineage, load records)."""

from __future__ import annotations

import json
import os
import sys
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterEventType, ExecuteInProcessResult

from platform_assets.definitions import defs as demo_defs
from platform_assets.external_models import assets as model_assets
from platform_assets.external_models import load_external_models
from platform_assets.models import ModelError
from platform_assets.platform import INGEST_JOB, build_definitions
from resources.warehouse import Load
from tests.conftest import REPO, Project

KEY = AssetKey(["models", "by_country"])

DECLARATION = """
MODEL = {
    "inputs": ["shop.orders", "crm.customers"],
    "outputs": [{"name": "by_country", "primary_key": "country",
                 "checks": {"columns": {"orders": {"min": 1}}}}],
    "checks": {"covers_every_country": {"description": "one row per customer country"}},
}
"""

BODY = """
import sys
import warnings
import polars as pl
from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    inputs, outputs = pipes.get_extra("inputs"), pipes.get_extra("outputs")
    orders = pl.read_parquet(inputs["shop.orders"])
    customers = pl.read_parquet(inputs["crm.customers"])
    rows = (
        orders.join(customers, left_on="customer_id", right_on="id")
        .group_by("country").agg(pl.len().cast(pl.Int64).alias("orders")).sort("country")
    )
    rows.write_parquet(outputs["by_country"])
    {report}
    {after}
"""

REPORT = """pipes.report_asset_check("covers_every_country",
        passed=rows.height == customers["country"].n_unique())
    pipes.report_asset_materialization(metadata={"countries": rows.height})"""


def model_file(report: str = REPORT, after: str = "", declaration: str = DECLARATION) -> str:
    return declaration + BODY.replace("{report}", report).replace("{after}", after)


@pytest.fixture
def shop(project: Project) -> Project:
    project.source(
        "crm",
        "name: crm\nkind: files\ntables: [{name: customers, path: in/c.csv, primary_key: id}]\n",
    )
    project.source("shop", "name: shop\nkind: files\ntables: [{name: orders, path: in/o.csv}]\n")
    project.file("in/c.csv", "id,country\n1,FR\n2,DE\n")
    project.file("in/o.csv", "order_id,customer_id\n10,1\n11,1\n12,2\n")
    assert project.run().success
    return project


def run_model(project: Project) -> ExecuteInProcessResult:
    defs = build_definitions(project.catalog(), project.resources())
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=project.instance, asset_selection=[KEY], raise_on_error=False
    )


def failure_message(result: ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failures, "the step did not fail"
    error = failures[0].step_failure_data.error
    assert error is not None
    return error.message


def table_state(project: Project) -> list[tuple[Any, ...]]:
    return project.query("SELECT country, orders, _load_id FROM models.by_country ORDER BY 1")


def test_a_model_lands_its_output_through_the_writer(shop: Project) -> None:
    shop.file("models/by_country.py", model_file())

    result = run_model(shop)

    assert result.success
    assert shop.query("SELECT country, orders FROM models.by_country ORDER BY 1") == [
        ("DE", 1),
        ("FR", 2),
    ]
    load = shop.query(
        "SELECT load_id, status, rows_in, rows_inserted FROM _tributary.loads "
        "WHERE source = 'models' AND table_name = 'by_country'"
    )
    assert [row[1:] for row in load] == [("succeeded", 2, 2)]
    input_loads = dict(
        shop.query(
            "SELECT source || '.' || table_name, load_id FROM _tributary.loads "
            "WHERE source IN ('shop', 'crm')"
        )
    )
    assert sorted(
        shop.query("SELECT load_id, model, input, input_load_id FROM _tributary.lineage")
    ) == [
        (load[0][0], "models.by_country", "crm.customers", input_loads["crm.customers"]),
        (load[0][0], "models.by_country", "shop.orders", input_loads["shop.orders"]),
    ]
    # the gate judged the output in its load's transaction
    assert shop.query(
        "SELECT check_name, passed FROM _tributary.check_results WHERE table_name = 'by_country'"
    ) == [("orders_min", True)]
    # Dagster sees the model's own metadata beside the load's, and both kinds of check
    materialization = result.asset_materializations_for_node("models__by_country__pipes")[0]
    assert materialization.metadata["countries"].value == 2
    assert materialization.metadata["load_id"].value == load[0][0]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"covers_every_country": True, "orders_min": True}


def test_a_model_that_crashes_after_reporting_leaves_its_output_as_it_was(
    shop: Project,
) -> None:
    shop.file("models/by_country.py", model_file())
    assert run_model(shop).success
    before = table_state(shop)
    shop.file("in/o.csv", "order_id,customer_id\n10,1\n11,1\n12,2\n13,2\n14,2\n")
    assert shop.run("shop").success
    shop.file("models/by_country.py", model_file(after="raise SystemExit(3)"))

    result = run_model(shop)

    assert not result.success
    assert "failed with code 3" in failure_message(result)
    assert "nothing of it landed" in failure_message(result)
    assert table_state(shop) == before
    assert result.asset_materializations_for_node("models__by_country__pipes") == []
    failed = shop.query(
        "SELECT error FROM _tributary.loads WHERE table_name = 'by_country' AND status = 'failed'"
    )
    assert len(failed) == 1 and "by_country" in failed[0][0]


def test_a_declared_check_never_reported_fails_the_step_saying_so(shop: Project) -> None:
    shop.file("models/by_country.py", model_file())
    assert run_model(shop).success
    before = table_state(shop)
    shop.file(
        "models/by_country.py",
        model_file(report='pipes.report_asset_materialization(metadata={"countries": 2})'),
    )

    result = run_model(shop)

    assert not result.success
    message = failure_message(result)
    assert "declared checks it never reported: covers_every_country (models.by_country)" in message
    assert table_state(shop) == before


def test_a_failed_blocking_model_check_keeps_the_output_out(shop: Project) -> None:
    shop.file("models/by_country.py", model_file())
    assert run_model(shop).success
    before = table_state(shop)
    shop.file(
        "models/by_country.py",
        model_file(report='pipes.report_asset_check("covers_every_country", passed=False)'),
    )

    result = run_model(shop)

    assert not result.success
    assert "blocked by the model's checks covers_every_country" in failure_message(result)
    assert table_state(shop) == before
    evaluations = result.get_asset_check_evaluations()
    assert [(e.check_name, e.passed) for e in evaluations] == [("covers_every_country", False)]


def test_the_gate_judges_a_model_output(shop: Project) -> None:
    declaration = DECLARATION.replace('{"min": 1}', '{"min": 2}')
    shop.file("models/by_country.py", model_file(declaration=declaration))

    result = run_model(shop)

    assert not result.success
    assert "blocked by checks" in failure_message(result)
    assert (
        shop.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'by_country'"
        )
        == 0
    )
    assert (
        shop.scalar("SELECT status FROM _tributary.loads WHERE table_name = 'by_country'")
        == "blocked"
    )


def test_the_model_runs_in_the_interpreter_it_names(shop: Project) -> None:
    interpreter = shop.file(
        "bin/python", f'#!/bin/sh\necho "$0" > {shop.root}/ran\nexec {sys.executable} "$@"\n'
    )
    interpreter.chmod(0o755)
    declaration = DECLARATION.replace('"inputs"', f'"python": "{interpreter}",\n    "inputs"')
    shop.file("models/by_country.py", model_file(declaration=declaration))

    assert run_model(shop).success
    assert (shop.root / "ran").read_text().strip() == str(interpreter)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("X = 1\n", "declares no MODEL"),
        ("MODEL = dict(inputs=[])\n", "must be a literal"),
        (
            'MODEL = {"inputs": ["orders"], "outputs": [{"name": "t"}]}\n',
            "inputs[0]: 'orders' is not a warehouse table",
        ),
        ('MODEL = {"inputs": ["a.b"], "outputs": [{"name": "t", "wirte": "merge"}]}\n', "wirte"),
        (
            'MODEL = {"inputs": ["a.b"], "outputs": [{"name": "t"}], '
            '"checks": {"c": {"output": "u"}}}\n',
            "checks.c.output",
        ),
    ],
)
def test_a_bad_declaration_names_the_file_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "m.py").write_text(text)
    with pytest.raises(ModelError, match=r"m\.py") as raised:
        load_external_models(tmp_path)
    assert message in str(raised.value)


def test_a_model_reading_an_unknown_table_fails_at_load(shop: Project) -> None:
    shop.file("models/by_country.py", model_file().replace("crm.customers", "crm.people", 1))
    with pytest.raises(ModelError, match=r"crm\.people"):
        build_definitions(shop.catalog(), shop.resources())


def test_the_demo_forecast_follows_the_sources_it_reads() -> None:
    graph = demo_defs.resolve_asset_graph()
    key = AssetKey(["models", "category_order_forecast"])
    assert graph.get(key).parent_keys == {
        AssetKey(["webshop", "orders"]),
        AssetKey(["inventory", "products"]),
    }
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == key}
    assert {"enough_history", "backtest_error", "orders_min"} <= checks
    assert AssetCheckKey(key, "backtest_error") in graph.asset_check_keys


def test_the_demo_forecast_runs_over_the_demo_data(project: Project) -> None:
    for name in ("webshop", "inventory", "crm"):
        project.source(name, (REPO / "platform_assets/catalog" / f"{name}.yaml").read_text())
    models = project.root / "models"
    models.mkdir()
    source = REPO / "platform_assets/models/category_order_forecast.py"
    (models / source.name).write_text(source.read_text())
    (project.root / "data").symlink_to(REPO / "data")
    assert project.run().success

    result = run_model_key(project, AssetKey(["models", "category_order_forecast"]))

    assert result.success
    assert project.query(
        "SELECT category, count(*), min(day) FROM models.category_order_forecast "
        "GROUP BY ALL ORDER BY 1"
    ) == [(c, 14, date(2026, 3, 29)) for c in ("coffee", "equipment", "tea")]
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["enough_history"] and evaluations["backtest_error"]


def run_model_key(project: Project, key: AssetKey) -> ExecuteInProcessResult:
    defs = build_definitions(project.catalog(), project.resources())
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=project.instance, asset_selection=[key], raise_on_error=False
    )


def test_inputs_arrive_without_the_load_bookkeeping_so_rows_can_pass_through(
    shop: Project,
) -> None:
    shop.file(
        "models/copied.py",
        """
        import shutil
        import pyarrow.parquet as pq
        from dagster_pipes import open_dagster_pipes

        MODEL = {"inputs": ["shop.orders"], "outputs": [{"name": "copied"}]}

        with open_dagster_pipes() as pipes:
            source = pipes.get_extra("inputs")["shop.orders"]
            columns = pq.read_schema(source).names
            shutil.copyfile(source, pipes.get_extra("outputs")["copied"])
            pipes.report_asset_materialization(metadata={"columns": ",".join(columns)})
        """,
    )

    result = run_model_key(shop, AssetKey(["models", "copied"]))

    assert result.success
    materialization = result.asset_materializations_for_node("models__copied__pipes")[0]
    assert materialization.metadata["columns"].value == "order_id,customer_id"
    assert shop.query("SELECT order_id, customer_id FROM models.copied ORDER BY 1") == [
        (10, 1),
        (11, 1),
        (12, 2),
    ]


COPY_MODEL = """
import json, os, shutil, sys

PLATFORM = ("dagster", "duckdb", "polars", "pyarrow", "pydantic", "platform_assets", "resources")
LOADED = sorted({m.split(".")[0] for m in sys.modules} & set(PLATFORM))

from dagster_pipes import open_dagster_pipes

MODEL = {"inputs": ["shop.orders"], "outputs": [{"name": "copied"}]}

with open_dagster_pipes() as pipes:
    shutil.copyfile(pipes.get_extra("inputs")["shop.orders"], pipes.get_extra("outputs")["copied"])
    pipes.report_asset_materialization(
        metadata={"loaded": ",".join(LOADED), "argv": json.dumps(sys.argv),
                  "name": __name__, "path0": sys.path[0]}
    )
"""
COPIED = AssetKey(["models", "copied"])


def _children() -> list[str]:
    """The command lines of this process's live child processes (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(command)
    return found


def test_the_model_process_imports_nothing_of_dagster_or_the_platform(shop: Project) -> None:
    model = shop.file("models/copied.py", COPY_MODEL)

    result = run_model_key(shop, COPIED)

    assert result.success
    metadata = result.asset_materializations_for_node("models__copied__pipes")[0].metadata
    assert metadata["loaded"].value == ""
    # the file runs as `python <file>` would run it
    assert json.loads(metadata["argv"].value) == [str(model.resolve())]
    assert metadata["name"].value == "__main__"
    assert metadata["path0"].value == str(model.resolve().parent)


def test_the_model_interpreter_starts_while_its_inputs_are_exported(
    shop: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = shop.file("models/copied.py", COPY_MODEL)
    export = model_assets.export_inputs
    running_during_export: list[list[str]] = []

    def watched_export(*args: Any, **kwargs: Any) -> Any:
        running_during_export.append(_children())
        return export(*args, **kwargs)

    monkeypatch.setattr(model_assets, "export_inputs", watched_export)

    assert run_model_key(shop, COPIED).success
    [running] = running_during_export
    assert any(str(model.resolve()) in command for command in running)
    assert not any(str(model.resolve()) in c for c in _children())


def test_a_failed_export_leaves_no_model_process_behind(shop: Project) -> None:
    model = shop.file("models/copied.py", COPY_MODEL.replace("shop.orders", "shop.gone"))
    shop.source(
        "shop",
        "name: shop\nkind: files\ntables: [{name: orders, path: in/o.csv}, "
        "{name: gone, path: in/gone.csv}]\n",
    )

    result = run_model_key(shop, COPIED)

    assert not result.success
    assert "nothing of it landed" in failure_message(result)
    assert not any(str(model.resolve()) in c for c in _children())


def test_the_output_is_read_into_the_warehouse_without_a_staging_copy(
    shop: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.file("models/copied.py", COPY_MODEL)

    def no_staging(self: Load, data: Any) -> None:
        raise AssertionError("the output was copied into a staging database")

    monkeypatch.setattr(Load, "stage", no_staging)

    result = run_model_key(shop, COPIED)

    assert result.success, failure_message(result)
    assert shop.query("SELECT order_id, customer_id FROM models.copied ORDER BY 1") == [
        (10, 1),
        (11, 1),
        (12, 2),
    ]


def test_a_model_run_prints_no_dagster_preview_warning(shop: Project) -> None:
    """Dagster's Pipes session warns that a method it calls itself is in preview; a user of
    `tributary run` or `make demo` would read it on every run."""
    shop.file("models/by_country.py", model_file())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_model(shop)

    assert result.success
    assert not [w for w in caught if "expected_writer_count" in str(w.message)]
