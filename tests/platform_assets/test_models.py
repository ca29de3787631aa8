"""SQL models: dependencies parsed from the SQL, automation after upstream updates, lineage rows."""

from pathlib import Path

import pytest
from dagster import AssetKey, AutomationCondition

from platform_assets.definitions import defs as demo_defs
from platform_assets.models import ModelError, model_inputs
from platform_assets.platform import INGEST_JOB, build_definitions
from tests.conftest import REPO, Project


def test_dependencies_come_from_the_sql() -> None:
    sql = """
        WITH recent AS (SELECT * FROM webshop.orders WHERE placed_at > now() - INTERVAL 7 DAY)
        SELECT c.country, count(*) FROM recent JOIN crm.customers c USING (customer_id)
        WHERE product_id IN (SELECT product_id FROM inventory.products WHERE category = 'x')
        GROUP BY ALL
    """
    assert model_inputs(sql) == (
        AssetKey(["crm", "customers"]),
        AssetKey(["inventory", "products"]),
        AssetKey(["webshop", "orders"]),
    )


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM customers", "DROP TABLE crm.customers", "SELECT 1", "SELECT 1; SELECT 2"],
)
def test_models_must_be_one_select_of_qualified_tables(sql: str) -> None:
    with pytest.raises(ModelError):
        model_inputs(sql)


def test_demo_models_follow_the_demo_sources() -> None:
    graph = demo_defs.resolve_asset_graph()
    models = [k for k in graph.get_all_asset_keys() if k.path[0] == "models"]
    assert len(models) >= 2
    for key in models:
        node = graph.get(key)
        assert len(node.parent_keys) >= 2, f"{key} joins fewer than two tables"
        assert {k.path[0] for k in node.parent_keys} <= {"crm", "inventory", "webshop"}
        assert node.automation_condition == AutomationCondition.eager()


def test_a_model_reading_an_unknown_table_fails_at_load(project: Project) -> None:
    project.source("a", "name: a\nkind: files\ntables: [{name: t, path: in/t.csv}]\n")
    project.file("models/m.sql", "SELECT * FROM a.t JOIN b.u USING (id)")
    with pytest.raises(ModelError, match=r"b\.u"):
        build_definitions(project.catalog(), project.resources())


def test_a_model_run_records_its_inputs_load_ids(project: Project) -> None:
    project.source(
        "crm",
        "name: crm\nkind: files\ntables: [{name: customers, path: in/c.csv, "
        "primary_key: id, write: merge}]\n",
    )
    project.source("shop", "name: shop\nkind: files\ntables: [{name: orders, path: in/o.csv}]\n")
    project.file("in/c.csv", "id,country\n1,FR\n2,DE\n")
    project.file("in/o.csv", "order_id,customer_id\n10,1\n11,1\n12,2\n")
    project.file(
        "models/orders_by_country.sql",
        "SELECT c.country, count(*) AS orders FROM shop.orders o "
        "JOIN crm.customers c ON c.id = o.customer_id GROUP BY ALL",
    )
    project.run("crm")
    project.file("in/c.csv", "id,country\n1,FR\n2,DE\n3,IT\n")
    project.run("crm")

    defs = build_definitions(project.catalog(), project.resources())
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=project.instance,
        asset_selection=[AssetKey(["shop", "orders"]), AssetKey(["models", "orders_by_country"])],
    )

    assert result.success
    assert project.query("SELECT * FROM models.orders_by_country ORDER BY 1") == [
        ("DE", 1),
        ("FR", 2),
    ]
    crm_loads = [
        r[0]
        for r in project.query(
            "SELECT load_id FROM _tributary.loads WHERE source = 'crm' ORDER BY started_at"
        )
    ]
    shop_load = project.scalar("SELECT load_id FROM _tributary.loads WHERE source = 'shop'")
    model_load = project.scalar("SELECT load_id FROM _tributary.loads WHERE source = 'models'")
    lineage = project.query(
        "SELECT load_id, run_id, model, input, input_load_id FROM _tributary.lineage ORDER BY ALL"
    )
    assert lineage == sorted(
        [
            (model_load, result.run_id, "models.orders_by_country", "crm.customers", crm_loads[0]),
            (model_load, result.run_id, "models.orders_by_country", "crm.customers", crm_loads[1]),
            (model_load, result.run_id, "models.orders_by_country", "shop.orders", shop_load),
        ]
    )


def test_the_demo_models_build_from_the_demo_sources(tmp_path: Path) -> None:
    from dagster import DagsterInstance

    from platform_assets.files_kind.reader import FileReader
    from platform_assets.platform import load_platform_catalog
    from resources.warehouse import Warehouse

    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "s"))
    defs = build_definitions(
        load_platform_catalog(), {"warehouse": warehouse, "files": FileReader(root=str(REPO))}
    )
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=instance)

    assert result.success
    with warehouse.read_only() as con:
        customers = con.execute("SELECT count(*) FROM models.customer_orders").fetchone()
        inputs = con.execute("SELECT DISTINCT model, input FROM _tributary.lineage").fetchall()
    assert customers == (200,)
    assert len(inputs) == 8  # two SQL models of three inputs, the forecast's two
