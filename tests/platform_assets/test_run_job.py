"""A run builds the job of what it runs: its sources and the models that follow them."""

from __future__ import annotations

from dagster import AssetKey

from platform_assets.platform import build_run_job
from tests.conftest import Project


def test_the_job_of_a_run_holds_only_its_sources_and_their_models(project: Project) -> None:
    for name in ("crm", "erp", "web"):
        project.source(
            name,
            f"name: {name}\nkind: files\ntables: [{{name: t, path: in/{name}.csv}}]\n",
        )
    project.file("models/crm_report.sql", "SELECT * FROM crm.t")
    project.file("models/web_report.sql", "SELECT * FROM web.t")
    catalog = project.catalog()

    job = build_run_job(
        catalog,
        [catalog.source("crm")],
        [AssetKey(["models", "crm_report"])],
        project.resources(),
    )

    assert set(job.asset_layer.executable_asset_keys) == {
        AssetKey(["crm", "t"]),
        AssetKey(["models", "crm_report"]),
    }


def test_a_run_without_models_reads_no_model(project: Project) -> None:
    project.source("crm", "name: crm\nkind: files\ntables: [{name: t, path: in/crm.csv}]\n")
    project.file("models/broken.sql", "this is not SQL")  # would fail if it were read
    catalog = project.catalog()

    job = build_run_job(catalog, list(catalog.sources), [], project.resources())

    assert set(job.asset_layer.executable_asset_keys) == {AssetKey(["crm", "t"])}
