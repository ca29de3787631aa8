"""Real-world column names through Dagster: headers such as `Body Mass (g)`, `studyName` and
`SignupDate` land as snake_case columns that every catalog field names (or, under
`column_names: keep`, as spelled), two names that land as one are an error naming both, and the
asset's column schema shows the source's spelling beside the column."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, TableSchema
from pytest_httpserver import HTTPServer

from platform_assets.catalog import CatalogError
from tests.conftest import Project
from tests.platform_assets.rest_kind.server import api

__all__ = ["api"]

PENGUINS_CSV = """
    studyName,Sample Number,Species,Body Mass (g),Date Egg
    PAL0708,1,Adelie Penguin (Pygoscelis adeliae),3750,2007-11-11
    PAL0708,2,Adelie Penguin (Pygoscelis adeliae),3800,2007-11-11
    PAL0708,3,Adelie Penguin (Pygoscelis adeliae),3250,2007-11-16
"""


def columns(project: Project, table: str) -> list[str]:
    """The data columns of `schema.table` in table order (lineage columns left out)."""
    schema, name = table.split(".")
    return [
        row[0]
        for row in project.query(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}' "
            "AND NOT starts_with(column_name, '_') ORDER BY ordinal_position"
        )
    ]


def penguins_source(project: Project, extra: str = "", table_fields: str = "") -> None:
    project.file("in/penguins.csv", PENGUINS_CSV)
    project.source(
        "lter",
        f"""
        name: lter
        kind: files
        {extra}
        tables:
          - name: penguins
            path: in/penguins.csv
            write: merge
            {table_fields}
        """,
    )


def test_penguin_headers_land_as_snake_case_columns_that_keys_and_checks_name(
    project: Project,
) -> None:
    penguins_source(
        project,
        table_fields="""primary_key: [study_name, sample_number]
            columns: {date_egg: DATE}
            checks:
              columns:
                body_mass_g: {min: 3000, nullable: false}""",
    )

    report = project.run()

    assert report.success, report.failures
    assert columns(project, "lter.penguins") == [
        "study_name",
        "sample_number",
        "species",
        "body_mass_g",
        "date_egg",
    ]
    assert project.query(
        "SELECT study_name, sample_number, body_mass_g, date_egg::VARCHAR FROM lter.penguins "
        "ORDER BY sample_number"
    ) == [
        ("PAL0708", 1, 3750, "2007-11-11"),
        ("PAL0708", 2, 3800, "2007-11-11"),
        ("PAL0708", 3, 3250, "2007-11-16"),
    ]
    assert project.query("SELECT rule, passed FROM _tributary.check_results ORDER BY rule") == [
        ("body_mass_g >= 3000", True),
        ("body_mass_g is never null", True),
    ]


def test_a_check_on_the_header_spelling_is_a_catalog_error_naming_the_column(
    project: Project,
) -> None:
    penguins_source(
        project,
        table_fields="""primary_key: [studyName, sample_number]
            checks: {columns: {"Body Mass (g)": {min: 3000}}}""",
    )

    with pytest.raises(CatalogError) as raised:
        project.catalog()

    assert raised.value.problems == [
        "catalog/lter.yaml: tables[0]: primary_key: 'studyName' is not a column name under "
        "column_names: snake_case; the column is named 'study_name'"
    ]


def test_declared_column_types_name_the_column_as_it_lands(project: Project) -> None:
    project.file("in/customers.csv", "id,SignupDate\n1,2024-06-26\n2,2025-01-02\n")
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables:
          - {name: customers, path: in/customers.csv, columns: {signup_date: DATE}}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query(
        "SELECT data_type FROM information_schema.columns WHERE column_name = 'signup_date'"
    ) == [("DATE",)]


def test_two_headers_that_land_as_one_column_fail_the_load_naming_both_and_the_file(
    project: Project,
) -> None:
    path = project.file("in/items.csv", "id,a b,a_b\n1,2,3\n")
    project.source("shop", "name: shop\nkind: files\ntables: [{name: items, path: in/items.csv}]\n")

    report = project.run()

    assert not report.success
    assert report.failures == [
        f"source 'shop', table 'items': {path}: the columns \"a b\" and \"a_b\" both land as "
        '"a_b" (column_names: snake_case): rename one at the source, or set column_names: keep'
    ]
    assert project.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'shop'"
    ) == [(0,)]


def test_a_header_cell_without_a_name_fails_naming_the_file_and_position(
    project: Project,
) -> None:
    """Exports often end their header with a comma; DuckDB's binder error named neither."""
    path = project.file("in/items.csv", "id,price,\n1,2,\n")
    project.source("shop", "name: shop\nkind: files\ntables: [{name: items, path: in/items.csv}]\n")

    report = project.run()

    assert report.failures == [f"source 'shop', table 'items': {path}: column 3 has no name"]


def test_keep_lands_names_as_spelled_and_checks_and_keys_use_them(project: Project) -> None:
    penguins_source(
        project,
        extra="column_names: keep",
        table_fields="""primary_key: [studyName, Sample Number]
            columns: {Date Egg: DATE}
            checks:
              columns:
                "Body Mass (g)": {min: 3500, nullable: false}
              expressions:
                - {name: plausible_mass, expr: '"Body Mass (g)" < 10000'}""",
    )

    report = project.run()

    assert not report.success, "3250 g is below the rule's minimum"
    assert report.failures == [
        "source 'lter', table 'penguins': blocked by checks (body_mass_g_min (1 failing)); "
        f"3 rows quarantined, load {report.failures[0].rsplit(' ', 1)[-1]}"
    ]
    assert project.query("SELECT rule, passed FROM _tributary.check_results ORDER BY rule") == [
        ("Body Mass (g) >= 3500", False),
        ("Body Mass (g) is never null", True),
        ('every row satisfies: "Body Mass (g)" < 10000', True),
    ]


def test_keep_lands_the_header_spelling_in_the_warehouse(project: Project) -> None:
    penguins_source(
        project,
        extra="column_names: keep",
        table_fields="""primary_key: [studyName, Sample Number]
            checks: {columns: {"Body Mass (g)": {min: 3000}}}""",
    )

    report = project.run()

    assert report.success, report.failures
    assert columns(project, "lter.penguins") == [
        "studyName",
        "Sample Number",
        "Species",
        "Body Mass (g)",
        "Date Egg",
    ]
    assert project.scalar('SELECT sum("Body Mass (g)") FROM lter.penguins') == 10800


def test_a_table_may_set_its_own_convention(project: Project) -> None:
    """The source keeps names as spelled; this one table normalizes them."""
    penguins_source(
        project,
        extra="column_names: keep",
        table_fields="""column_names: snake_case
            primary_key: [study_name, sample_number]""",
    )

    report = project.run()

    assert report.success, report.failures
    assert columns(project, "lter.penguins")[:2] == ["study_name", "sample_number"]


def test_the_column_schema_shows_each_column_with_its_source_name(project: Project) -> None:
    penguins_source(project, table_fields="primary_key: [study_name, sample_number]")

    report = project.run()

    assert report.success, report.failures
    event = project.instance.get_latest_materialization_event(AssetKey(["lter", "penguins"]))
    assert event is not None and event.asset_materialization is not None
    schema = event.asset_materialization.metadata["dagster/column_schema"].value
    assert isinstance(schema, TableSchema)
    described = {c.name: (c.type, c.description) for c in schema.columns}
    assert described["body_mass_g"] == ("BIGINT", 'source name: "Body Mass (g)"')
    assert described["study_name"] == ("VARCHAR", 'source name: "studyName"')
    assert described["species"] == ("VARCHAR", 'source name: "Species"')
    assert described["_load_id"] == ("UUID", None)


def test_parquet_and_json_names_are_renamed_in_the_scan(project: Project) -> None:
    pq.write_table(
        pa.table({"Product ID": [1, 2], "unitPrice": [1.5, 2.5]}), project.root / "in.parquet"
    )
    project.file("in.jsonl", '{"orderId": 7, "Ship To": {"cityName": "Oslo"}}\n')
    project.source(
        "erp",
        """
        name: erp
        kind: files
        tables:
          - {name: products, path: in.parquet, primary_key: product_id, write: merge,
             columns: {unit_price: "DECIMAL(10,2)"}}
          - {name: orders, path: in.jsonl, primary_key: order_id, write: merge}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert columns(project, "erp.products") == ["product_id", "unit_price"]
    assert project.query("SELECT product_id, unit_price::VARCHAR FROM erp.products") == [
        (1, "1.50"),
        (2, "2.50"),
    ]
    assert columns(project, "erp.orders") == ["order_id", "ship_to"]


def test_a_stored_column_spelled_another_way_stops_the_load_rather_than_duplicate_it(
    project: Project,
) -> None:
    """A table created before names were normalized holds `SignupDate`; the same header now
    arrives as `signup_date`. Adding it beside the stored column would split the data, so the
    load fails, saying how to rename the stored column, and the table is unchanged."""
    project.file("in/customers.csv", "id,SignupDate\n1,2024-06-26\n")
    yaml = "name: crm\nkind: files\n{}tables: [{{name: customers, path: in/customers.csv}}]\n"
    project.source("crm", yaml.format("column_names: keep\n"))
    assert project.run().success

    project.source("crm", yaml.format(""))
    report = project.run()

    assert not report.success
    assert report.failures == [
        "source 'crm', table 'customers': column names changed spelling (stored "
        '"SignupDate" arrives as "signup_date") and would land as second columns: rename the '
        'stored columns once (ALTER TABLE "crm"."customers" RENAME COLUMN "SignupDate" TO '
        '"signup_date"), or set column_names to the convention they were loaded with'
    ]
    assert columns(project, "crm.customers") == ["id", "SignupDate"]


def test_rest_keys_land_snake_case_at_every_level(project: Project, api: HTTPServer) -> None:
    api.expect_request("/contacts").respond_with_json(
        [
            {
                "contactId": 1,
                "updatedAt": "2024-03-01T10:00:00Z",
                "homeAddress": {"zipCode": "10115", "cityName": "Berlin"},
                "phoneNumbers": [{"phoneType": "mobile", "Number": "+49 1"}],
            }
        ]
    )
    project.source(
        "crm",
        f"""
        name: crm
        kind: rest
        client: {{base_url: "{api.url_for("/")}"}}
        tables:
          - name: contacts
            endpoint: {{path: /contacts}}
            primary_key: contact_id
            write: merge
            incremental: {{cursor_field: updated_at, param: since}}
            checks: {{columns: {{home_address__zip_code: {{str_length: {{min: 5, max: 5}}}}}}}}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert columns(project, "crm.contacts") == [
        "contact_id",
        "updated_at",
        "home_address__zip_code",
        "home_address__city_name",
    ]
    assert project.query(
        "SELECT _parent_id, phone_type, number FROM crm.contacts__phone_numbers"
    ) == [(1, "mobile", "+49 1")]
    assert project.scalar("SELECT cursor_value FROM _tributary.state") == "2024-03-01T10:00:00Z"
    event = project.instance.get_latest_materialization_event(AssetKey(["crm", "contacts"]))
    assert event is not None and event.asset_materialization is not None
    schema = event.asset_materialization.metadata["dagster/column_schema"].value
    described = {c.name: c.description for c in schema.columns}
    assert described["home_address__zip_code"] == 'source name: "homeAddress.zipCode"'


def test_rest_keys_that_land_as_one_name_fail_naming_both(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/contacts").respond_with_json([{"id": 1, "userId": 2, "user_id": 3}])
    project.source(
        "crm",
        f"""
        name: crm
        kind: rest
        client: {{base_url: "{api.url_for("/")}"}}
        tables: [{{name: contacts, endpoint: {{path: /contacts}}}}]
        """,
    )

    report = project.run()

    assert not report.success
    assert len(report.failures) == 1
    assert report.failures[0].endswith(
        'records: the columns "userId" and "user_id" both land as "user_id" '
        "(column_names: snake_case): rename one at the source, or set column_names: keep"
    )


def test_kept_names_reach_across_tables_in_references(project: Project) -> None:
    project.file("in/customers.csv", "Customer No.,Name\n1,Ada\n2,Ben\n")
    project.file("in/orders.csv", "Order ID,Customer No.\n10,1\n11,3\n")
    project.source(
        "shop",
        """
        name: shop
        kind: files
        column_names: keep
        tables:
          - {name: customers, path: in/customers.csv}
          - name: orders
            path: in/orders.csv
            checks:
              references:
                - {column: Customer No., to: shop.customers.Customer No., severity: warn}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT rule, passed, failures FROM _tributary.check_results") == [
        ("every Customer No. exists in shop.customers.Customer No.", False, 1)
    ]


def test_a_nested_field_and_a_key_that_flatten_to_one_column_fail_naming_it(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/contacts").respond_with_json(
        [{"id": 1, "user__name": "flat", "user": {"name": "nested"}}]
    )
    project.source(
        "crm",
        f"""
        name: crm
        kind: rest
        client: {{base_url: "{api.url_for("/")}"}}
        tables: [{{name: contacts, endpoint: {{path: /contacts}}}}]
        """,
    )

    report = project.run()

    assert not report.success
    assert report.failures[0].endswith(
        'two fields land as the column "user__name": a nested field and a key spelled with "__"'
    )


@pytest.mark.parametrize(
    ("tables", "problem"),
    [
        (
            "[{name: contacts, endpoint: {path: /contacts},"
            " incremental: {cursor_field: meta.updatedAt, param: since}}]",
            "tables[0]: incremental.cursor_field: 'updatedAt' is not a column name under "
            "column_names: snake_case; the column is named 'updated_at'",
        ),
        (
            "[{name: contacts, endpoint: {path: /contacts}},"
            ' {name: notes, endpoint: {path: "/contacts/{contacts.contactId}/notes"}}]',
            "table 'notes': endpoint.path: 'contactId' is not a column name under "
            "column_names: snake_case; the column is named 'contact_id'",
        ),
    ],
)
def test_rest_fields_that_name_columns_are_catalog_errors_when_spelled_the_api_way(
    project: Project, tables: str, problem: str
) -> None:
    project.source(
        "crm",
        f"""
        name: crm
        kind: rest
        client: {{base_url: "http://127.0.0.1:9"}}
        tables: {tables}
        """,
    )

    with pytest.raises(CatalogError) as raised:
        project.catalog()

    assert raised.value.problems == [f"catalog/crm.yaml: {problem}"]
