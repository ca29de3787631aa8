"""`--workers`: ten sources at once, each in its own process, all land without lock errors."""

import time

from dagster import DagsterInstance

from platform_assets.platform import load_platform_catalog
from platform_assets.runner import run_sources
from tests.conftest import Project
from tests.resources.test_concurrency import environment, write_csv

__all__ = ["environment"]

SOURCES = 10


def test_ten_sources_run_in_parallel_without_lock_errors(
    project: Project, environment: dict[str, str]
) -> None:
    for index in range(SOURCES):
        write_csv(project.root / f"in/p{index}.csv", 1_000, seed=index)
        project.source(
            f"p{index}",
            f"name: p{index}\nkind: files\n"
            f"tables: [{{name: rows, path: in/p{index}.csv, primary_key: id, write: merge}}]\n",
        )
    catalog = load_platform_catalog()

    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        report = run_sources(catalog, catalog.sources, instance=instance, workers=SOURCES)
    elapsed = time.perf_counter() - started

    assert report.success, report.failures
    loads = project.query("SELECT source, status, rows_in, error FROM _tributary.loads")
    assert sorted(loads) == [(f"p{i}", "succeeded", 1_000, None) for i in range(SOURCES)]
    print(f"{SOURCES} sources in {elapsed:.1f}s")
