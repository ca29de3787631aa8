"""The catalog: YAML files become typed sources, and every mistake is named by file and field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from platform_assets.catalog import CatalogError
from platform_assets.files_kind.config import FilesSource
from tests.conftest import Project

ORDERS = """
    name: shop
    kind: files
    owner: team:commerce
    tags: {domain: orders}
    schedule: "0 6 * * *"
    freshness: {warn_after: 2h, fail_after: 6h}
    tables:
      - name: orders
        path: data/orders.csv
        primary_key: order_id
        write: merge
"""


def problems_of(project: Project) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        project.catalog()
    return caught.value.problems


def test_a_source_file_becomes_a_typed_source(project: Project) -> None:
    project.source("shop", ORDERS)

    (source,) = project.catalog().sources

    assert isinstance(source, FilesSource)
    assert source.owner == "team:commerce"
    assert source.freshness is not None
    assert source.freshness.warn_after == timedelta(hours=2)
    table = source.tables[0]
    assert (table.name, table.format, table.primary_key, table.write) == (
        "orders",
        "csv",
        ("order_id",),
        "merge",
    )


def test_tags_may_be_a_list_as_in_dbt(project: Project) -> None:
    project.source("shop", ORDERS.replace("tags: {domain: orders}", "tags: [finance, daily]"))
    project.source(
        "crm",
        ORDERS.replace("name: shop", "name: crm").replace(
            "tags: {domain: orders}", "tags: [finance, tier=gold]"
        ),
    )

    crm, shop = project.catalog().sources

    assert shop.tags == {"finance": "", "daily": ""}
    assert crm.tags == {"finance": "", "tier": "gold"}


def test_a_tag_list_item_must_be_a_name(project: Project) -> None:
    project.source("shop", ORDERS.replace("tags: {domain: orders}", "tags: [finance, 3]"))

    assert problems_of(project) == [
        "catalog/shop.yaml: tags: 3 is not a tag: write a name, or key=value"
    ]


def test_a_check_of_the_wrong_type_is_one_plain_line(project: Project) -> None:
    project.source(
        "shop",
        ORDERS.replace("primary_key: order_id", "primary_key: {a: 1}")
        + "        checks:\n          columns:\n            qty: {min: abc, isin: 5}\n",
    )

    assert problems_of(project) == [
        "catalog/shop.yaml: tables[0].primary_key: must be a list, not {'a': 1}",
        "catalog/shop.yaml: tables[0].checks.columns.qty.isin: must be a list, not 5",
        "catalog/shop.yaml: tables[0].checks.columns.qty.min: must be a number, not 'abc'",
    ]


def test_environment_variables_are_interpolated_with_defaults(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DIR", "exports")
    project.source(
        "shop",
        """
        name: shop
        kind: files
        description: "from ${SHOP_DIR}, owner ${SHOP_OWNER:-nobody}"
        tables:
          - {name: orders, path: "${SHOP_DIR}/orders.csv"}
    """,
    )

    (source,) = project.catalog().sources

    assert source.description == "from exports, owner nobody"
    assert source.tables[0].path == "exports/orders.csv"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        pytest.param(
            ORDERS.replace("path: data/orders.csv", "path: data/orders.csv\n        format: xlsx"),
            "catalog/shop.yaml: tables[0].format: must be one of csv, tsv, json, jsonl, parquet",
            id="bad format",
        ),
        pytest.param(
            ORDERS.replace("owner: team:commerce", "owner: team:commerce\n    colour: blue"),
            "catalog/shop.yaml: colour: unknown key",
            id="unknown key",
        ),
        pytest.param(
            ORDERS.replace("primary_key: order_id", "primary_key: order_id\n        sep: ';'"),
            "catalog/shop.yaml: tables[0].sep: unknown key",
            id="unknown table key",
        ),
        pytest.param(
            ORDERS.replace("name: orders", "name: Orders-2024"),
            "catalog/shop.yaml: tables[0].name: 'Orders-2024' is not a valid name",
            id="bad identifier",
        ),
        pytest.param(
            ORDERS.replace('"0 6 * * *"', '"61 * * * *"'),
            "catalog/shop.yaml: schedule: '61 * * * *' is not a valid cron string",
            id="bad cron",
        ),
        pytest.param(
            ORDERS.replace("kind: files", "kind: ftp"),
            "catalog/shop.yaml: kind: 'ftp' is not a known kind; must be one of files",
            id="unknown kind",
        ),
        pytest.param(
            ORDERS.replace("        primary_key: order_id\n", ""),
            "catalog/shop.yaml: tables[0]: write: merge needs a primary_key",
            id="merge without key",
        ),
        pytest.param(
            ORDERS.replace("fail_after: 6h", "fail_after: soon"),
            "catalog/shop.yaml: freshness.fail_after: 'soon' is not a duration",
            id="bad duration",
        ),
        pytest.param(
            ORDERS.replace("tables:", "timezone: Mars/Olympus\n    tables:"),
            "catalog/shop.yaml: timezone: 'Mars/Olympus' is not a known IANA time zone",
            id="bad timezone",
        ),
        pytest.param(
            ORDERS.replace("path: data/orders.csv", "path: ${SHOP_EXPORT_DIR}/orders.csv"),
            "catalog/shop.yaml: tables[0].path: environment variable SHOP_EXPORT_DIR is not set",
            id="missing variable",
        ),
        pytest.param(
            ORDERS.replace("path: data/orders.csv", "path: data/orders.xyz"),
            "catalog/shop.yaml: tables[0]: cannot tell the format of 'data/orders.xyz'",
            id="format not inferable",
        ),
        pytest.param(
            ORDERS.replace("write: merge", "write: merge\n        columns: {total: MONEY}"),
            "catalog/shop.yaml: tables[0].columns.total: 'MONEY' is not a DuckDB type",
            id="bad column type",
        ),
        pytest.param(
            ORDERS.replace(
                "write: merge", "write: merge\n        checks: {columns: {qty: {min: 5, max: 1}}}"
            ),
            "catalog/shop.yaml: tables[0].checks.columns.qty: min (5) is greater than max (1)",
            id="rule no value passes",
        ),
        pytest.param(
            ORDERS.replace(
                "write: merge", "write: merge\n        checks: {columns: {ref: {str_length: {}}}}"
            ),
            "catalog/shop.yaml: tables[0].checks.columns.ref.str_length: give min, max or both",
            id="length without bounds",
        ),
        pytest.param(
            ORDERS.replace(
                "write: merge", "write: merge\n        checks: {row_count: {min: 9, max: 3}}"
            ),
            "catalog/shop.yaml: tables[0].checks.row_count: min (9) is greater than max (3)",
            id="row count no batch passes",
        ),
        pytest.param(
            ORDERS.replace(
                "write: merge", "write: merge\n        checks: {columns: {status: {isin: []}}}"
            ),
            "catalog/shop.yaml: tables[0].checks.columns.status.isin: tuple should have at least 1",
            id="empty isin",
        ),
        pytest.param(
            ORDERS.replace(
                "write: merge", "write: merge\n        checks: {columns: {note: {dtype: VARCHR}}}"
            ),
            "catalog/shop.yaml: tables[0].checks.columns.note.dtype: 'VARCHR' is not a DuckDB type",
            id="unknown dtype",
        ),
        pytest.param(
            "name: shop\nkind: files\ntables: [\n",
            "catalog/shop.yaml: line 4, column 1: invalid YAML",
            id="broken yaml",
        ),
    ],
)
def test_catalog_errors_name_the_file_and_field(
    project: Project, yaml_text: str, expected: str
) -> None:
    project.source("shop", yaml_text)

    problems = problems_of(project)

    assert any(p.startswith(expected) for p in problems), problems


def test_a_table_declared_twice_is_rejected(project: Project) -> None:
    project.source("shop", ORDERS + "      - {name: orders, path: data/more.csv}\n")

    assert problems_of(project) == ["catalog/shop.yaml: tables: table 'orders' is declared twice"]


def test_a_source_declared_in_two_files_is_rejected(project: Project) -> None:
    project.source("shop", ORDERS)
    project.source("shop_copy", ORDERS)

    assert problems_of(project) == [
        "catalog/shop_copy.yaml: name: source 'shop' is already declared in catalog/shop.yaml"
    ]


def test_every_broken_file_is_reported_at_once(project: Project) -> None:
    project.source("a", ORDERS.replace("name: shop", "name: a").replace("merge", "upsert"))
    project.source("b", ORDERS.replace("name: shop", "name: b").replace("team:commerce", "bob"))

    problems = problems_of(project)

    assert [p.split(":")[0] for p in problems] == ["catalog/a.yaml", "catalog/b.yaml"]
    assert "must be one of append, replace, merge, scd2" in problems[0]
    assert "is not an owner" in problems[1]


def test_an_empty_catalog_directory_is_an_error(project: Project) -> None:
    project.catalog_dir.mkdir()

    assert problems_of(project) == [f"{project.catalog_dir}: no *.yaml source files"]


def _with_checks(checks: str) -> str:
    return ORDERS.replace("write: merge", f"write: merge\n        checks: {checks}")


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        pytest.param(
            """{columns: {name: {regex: "^(?!test).*$"}}}""",
            "tables[0].checks.columns.name: regex: DuckDB, which runs the rule, "
            "refuses it on a column of type VARCHAR: Invalid Input Error: invalid perl operator: "
            "(?!",
            id="look-ahead python accepts and RE2 refuses",
        ),
        pytest.param(
            """{columns: {code: {regex: "(?<=a)b"}}}""",
            "tables[0].checks.columns.code: regex: DuckDB, which runs the rule, refuses it",
            id="look-behind",
        ),
        pytest.param(
            """{columns: {qty: {dtype: VARCHAR, min: 0}}}""",
            "tables[0].checks.columns.qty: min: DuckDB, which runs the rule, "
            "refuses it on a column of type VARCHAR: Binder Error: Cannot compare values of type "
            "VARCHAR",
            id="a number bound on a text column",
        ),
        pytest.param(
            """{columns: {qty: {dtype: INTEGER, isin: ["1", "2"]}}}""",
            "tables[0].checks.columns.qty: isin: DuckDB, which runs the rule, "
            "refuses it on a column of type INTEGER: Binder Error",
            id="text values for a number column",
        ),
        pytest.param(
            """{columns: {status: {isin: [paid, 1]}}}""",
            "tables[0].checks.columns.status: isin mixes text ('paid') with 1",
            id="isin mixing text and numbers",
        ),
        pytest.param(
            """{columns: {qty: {dtype: BIGINT, regex: "^[0-9]+$"}}}""",
            "tables[0].checks.columns.qty: regex: DuckDB, which runs the rule, "
            "refuses it on a column of type BIGINT: Binder Error: No function matches",
            id="regex on a number column",
        ),
        pytest.param(
            """{expressions: [{name: paid, expr: "iff(paid, 1, 0) = 1"}]}""",
            "tables[0].checks: expressions[0] (paid): 'iff(paid, 1, 0) = 1': DuckDB, which"
            " runs the rule, refuses it: Catalog Error: Scalar Function with name iff does not "
            "exist!",
            id="a function DuckDB lacks",
        ),
        pytest.param(
            """{expressions: [{name: this_year, expr: "to_char(day, 'YYYY') = '2026'"}]}""",
            "tables[0].checks.expressions[0].expr: \"to_char(day, 'YYYY') = '2026'\" is not DuckDB "
            "SQL: Argument 'format' is not supported",
            id="a function only another dialect has",
        ),
        pytest.param(
            """{expressions: [{name: real_sku, expr: "regexp_matches(sku, '^(?!test)')"}]}""",
            "tables[0].checks: expressions[0] (real_sku): \"regexp_matches(sku, '^(?!test)')\": "
            "DuckDB, which runs the rule, refuses it: Invalid Input Error: invalid perl operator",
            id="an expression's regex RE2 refuses",
        ),
        pytest.param(
            """{columns: {note: {dtype: VARCHAR}}, expressions: [{name: n, expr: "note > 5"}]}""",
            "tables[0].checks: expressions[0] (n): 'note > 5': DuckDB, which runs the rule, "
            "refuses it: Binder Error: Cannot compare values of type VARCHAR",
            id="an expression on a declared type",
        ),
    ],
)
def test_rules_are_validated_by_duckdb_which_runs_them(
    project: Project, checks: str, expected: str
) -> None:
    project.source("shop", _with_checks(checks))

    problems = problems_of(project)

    assert any(p.startswith(f"catalog/shop.yaml: {expected}") for p in problems), problems


@pytest.mark.parametrize(
    "checks",
    [
        """{columns: {sku: {regex: "^[A-Z]{3}-\\\\d+$", str_length: {max: 12}}}}""",
        """{columns: {word: {regex: "\\\\p{Greek}+"}}}""",
        """{columns: {qty: {dtype: INTEGER, min: 0, max: 100, isin: [1, 2, 3]}}}""",
        """{columns: {status: {isin: [paid, shipped]}, price: {dtype: "DECIMAL(18,2)", min: 0}}}""",
        """{expressions: [{name: ok, expr: "quantity > 0 or status = 'cancelled'"}]}""",
        """{expressions: [{name: ok, expr: "date_diff('day', ordered, shipped) >= 0"}]}""",
        """{expressions: [{name: ok, expr: "shipping.method in ('post', 'pickup')"}]}""",
    ],
)
def test_rules_duckdb_runs_pass_validation(project: Project, checks: str) -> None:
    project.source("shop", _with_checks(checks))

    assert project.catalog().sources[0].tables[0].checks is not None


@pytest.mark.parametrize(
    ("name", "holder"),
    [
        ("_tributary", "the platform's own records (loads, cursors, quarantine)"),
        ("models", "the SQL models"),
        ("main", "DuckDB's default schema"),
        ("information_schema", "DuckDB's catalog views"),
        ("pg_catalog", "DuckDB's catalog views"),
        ("temp", "DuckDB's temporary tables"),
        ("system", "DuckDB's built-in catalog"),
    ],
)
def test_a_source_cannot_take_a_schema_the_platform_or_duckdb_owns(
    project: Project, name: str, holder: str
) -> None:
    """A source's name is its schema: `_tributary` landed beside the load records."""
    project.source(name, ORDERS.replace("name: shop", f"name: {name}"))

    assert problems_of(project) == [
        f"catalog/{name}.yaml: name: {name!r} is reserved: the warehouse schema of that name "
        f"holds {holder}; choose another source name"
    ]


def test_the_reserved_model_schema_is_the_one_models_land_in() -> None:
    from platform_assets.config.base import RESERVED_SCHEMAS
    from platform_assets.models import MODEL_SCHEMA
    from resources.warehouse_schema import PLATFORM_SCHEMA

    assert {MODEL_SCHEMA, PLATFORM_SCHEMA} <= RESERVED_SCHEMAS.keys()


def test_a_table_cannot_be_named_like_a_loads_scratch_table(project: Project) -> None:
    """Scratch tables `__batch_*` are dropped whenever a writer opens the warehouse."""
    project.source("shop", ORDERS.replace("name: orders", "name: __batch_orders"))

    assert problems_of(project) == [
        "catalog/shop.yaml: tables[0].name: '__batch_orders' is reserved: tables named "
        "__batch_* are a load's scratch tables, dropped whenever a load starts"
    ]


def test_a_table_cannot_take_the_name_of_another_tables_child_table(project: Project) -> None:
    project.source("shop", ORDERS + "      - {name: orders__lines, path: data/lines.csv}\n")

    assert problems_of(project) == [
        "catalog/shop.yaml: tables: table 'orders__lines' would share its name with a child "
        "table of 'orders' (<table>__<field>, where nested lists land)"
    ]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        pytest.param(
            "columns: {qty: INTEGER}\n        checks: {columns: {qty: {isin: [a, b]}}}",
            "tables[0]: checks.columns.qty: isin: DuckDB, which runs the rule, "
            "refuses it on a column of type INTEGER: Binder Error",
            id="isin text on a declared integer",
        ),
        pytest.param(
            "columns: {zip: VARCHAR}\n        checks: {columns: {zip: {min: 1000}}}",
            "tables[0]: checks.columns.zip: min: DuckDB, which runs the rule, "
            "refuses it on a column of type VARCHAR: Binder Error: Cannot compare values of type "
            "VARCHAR",
            id="a number bound on a declared text column",
        ),
        pytest.param(
            "columns: {zip: VARCHAR}\n"
            '        checks: {expressions: [{name: berlin, expr: "zip between 10115 and 14199"}]}',
            "tables[0]: checks.expressions[0] (berlin): 'zip between 10115 and 14199': DuckDB, "
            "which runs the rule, refuses it: Binder Error",
            id="an expression on a declared text column",
        ),
    ],
)
def test_rules_are_bound_on_the_types_a_files_table_declares(
    project: Project, table: str, expected: str
) -> None:
    project.source("shop", ORDERS.replace("write: merge", f"write: merge\n        {table}"))

    problems = problems_of(project)

    assert any(p.startswith(f"catalog/shop.yaml: {expected}") for p in problems), problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("primary_key: order_id", "primary_key: [order_id, _load_id]"),
            "tables[0]: primary_key: '_load_id' is a column the platform adds to every row",
        ),
        (
            ("write: merge", "write: merge\n        columns: {_row_hash: VARCHAR}"),
            "tables[0]: columns: '_row_hash' is a column the platform adds to every row",
        ),
    ],
)
def test_a_table_cannot_declare_or_key_on_a_platform_column(
    project: Project, change: tuple[str, str], expected: str
) -> None:
    """The writer refused such a batch on every run; the catalog refuses it once."""
    project.source("shop", ORDERS.replace(*change))

    problems = problems_of(project)

    assert any(p.startswith(f"catalog/shop.yaml: {expected}") for p in problems), problems
