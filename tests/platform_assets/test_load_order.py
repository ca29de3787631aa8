"""Tables load after the tables they reference, within a source and across sources."""

from __future__ import annotations

import pytest
from dagster import DagsterEventType
from typer.testing import CliRunner

from platform_assets.cli import app
from tests.conftest import Project
from tests.platform_assets.test_catalog import problems_of

SHOP = """
    name: shop
    kind: files
    tables:
      - name: orders
        path: in/orders.csv
        checks:
          references: [{column: product_id, to: shop.products.id}]
      - name: products
        path: in/products.csv
"""


def materialized(project: Project, run_id: str) -> list[str]:
    """The tables a run materialized, in the order they landed."""
    return [
        record.get_dagster_event().asset_key.to_user_string()  # type: ignore[union-attr]
        for record in project.instance.all_logs(
            run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        )
    ]


def test_a_table_loads_after_the_table_of_its_source_it_references(project: Project) -> None:
    """`orders` sorts before `products` and is declared first; it used to load first and be
    blocked on its first run, its products not yet landed."""
    project.file("in/products.csv", "id,name\n1,tea\n2,cup\n")
    project.file("in/orders.csv", "id,product_id\n10,1\n11,2\n")
    project.source("shop", SHOP)

    report = project.run()

    assert report.success, report.failures
    assert materialized(project, report.run_id) == ["shop/products", "shop/orders"]
    assert project.scalar("SELECT count(*) FROM shop.orders") == 2


def test_a_table_loads_after_the_tables_of_other_sources_it_references(project: Project) -> None:
    """Across sources the order is Dagster's, from the assets' deps: `billing` sorts first."""
    project.file("in/customers.csv", "id,name\n1,Ada\n")
    project.file("in/invoices.csv", "id,customer_id\n7,1\n")
    project.source(
        "billing",
        """
        name: billing
        kind: files
        tables:
          - name: invoices
            path: in/invoices.csv
            checks: {references: [{column: customer_id, to: crm.customers.id}]}
        """,
    )
    project.source(
        "crm", "name: crm\nkind: files\ntables: [{name: customers, path: in/customers.csv}]\n"
    )

    report = project.run()

    assert report.success, report.failures
    assert materialized(project, report.run_id) == ["crm/customers", "billing/invoices"]


def test_tables_that_reference_each_other_in_a_cycle_are_refused(project: Project) -> None:
    project.source(
        "shop",
        SHOP.replace(
            "path: in/products.csv",
            "path: in/products.csv\n"
            "        checks: {references: [{column: best_order, to: shop.orders.id}]}",
        ),
    )

    assert problems_of(project) == [
        "catalog/shop.yaml: tables: tables depend on each other in a cycle: "
        "orders -> products -> orders"
    ]


def test_a_reference_to_a_table_its_source_lacks_is_refused(project: Project) -> None:
    project.source("shop", SHOP.replace("to: shop.products.id", "to: shop.product.id"))

    assert problems_of(project) == [
        "catalog/shop.yaml: tables[0].checks.references[0].to: 'shop.product.id' names table "
        "'product', which source 'shop' does not declare"
    ]


def test_sources_run_in_parallel_processes_still_load_referenced_tables_first(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tributary run --all` runs sources in parallel processes: `billing` waits for `crm`."""
    for name, value in {
        "TRIBUTARY_ROOT": project.root,
        "TRIBUTARY_CATALOG": project.catalog_dir,
        "TRIBUTARY_WAREHOUSE": project.root / "warehouse.duckdb",
        "DAGSTER_HOME": project.root / ".dagster",
    }.items():
        monkeypatch.setenv(name, str(value))
    project.file("in/customers.csv", "id,name\n1,Ada\n")
    project.file("in/invoices.csv", "id,customer_id\n7,1\n")
    project.source(
        "billing",
        """
        name: billing
        kind: files
        tables:
          - name: invoices
            path: in/invoices.csv
            checks: {references: [{column: customer_id, to: crm.customers.id}]}
        """,
    )
    project.source(
        "crm", "name: crm\nkind: files\ntables: [{name: customers, path: in/customers.csv}]\n"
    )

    result = CliRunner().invoke(app, ["run", "--all", "--workers", "2"])

    assert result.exit_code == 0, result.output
    assert project.query(
        "SELECT source FROM _tributary.loads WHERE status = 'succeeded' ORDER BY finished_at"
    ) == [("crm",), ("billing",)]
