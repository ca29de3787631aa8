"""Column naming conventions: what real-world headers land as, and the properties that make a
convention safe to apply once at the boundary (idempotent, valid names, clashes reported)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.duckdb_sql import quote
from resources.naming import (
    ColumnNameClash,
    ColumnNameError,
    check_spelling,
    normalize,
    normalized_names,
    normalized_records,
    renames,
    respelled_columns,
    snake_case,
)

# Headers of public data sets (Palmer penguins, a CRM export) and API keys (NewsAPI, USGS).
EXAMPLES = {
    "studyName": "study_name",
    "Sample Number": "sample_number",
    "Species": "species",
    "Body Mass (g)": "body_mass_g",
    "Date Egg": "date_egg",
    "Delta 15 N (o/oo)": "delta_15_n_o_oo",
    "SignupDate": "signup_date",
    "urlToImage": "url_to_image",
    "HTTPStatus": "http_status",
    "temperature_2m": "temperature_2m",
    "2019 Sales": "_2019_sales",
    "  padded  ": "padded",
    "e-mail": "e_mail",
    "price+tax": "pricextax",
    "user__login": "user__login",
    "%": "x",
}


@pytest.mark.parametrize(("source", "column"), EXAMPLES.items())
def test_snake_case_names_real_world_headers_as_dlt_does(source: str, column: str) -> None:
    assert snake_case(source) == column


def test_keep_lands_names_as_spelled() -> None:
    assert normalize("Body Mass (g)", "keep") == "Body Mass (g)"
    assert normalize("Body Mass (g)", "snake_case") == "body_mass_g"


@pytest.mark.parametrize("naming", ["snake_case", "keep"])
def test_a_column_without_a_name_is_an_error(naming: str) -> None:
    with pytest.raises(ColumnNameError, match="has no name"):
        normalize("  ", naming)  # type: ignore[arg-type]


def test_two_headers_that_land_as_one_name_are_a_one_line_error_naming_both() -> None:
    with pytest.raises(ColumnNameClash) as raised:
        normalized_names(["id", "a b", "a_b"], "snake_case")

    assert str(raised.value) == (
        'the columns "a b" and "a_b" both land as "a_b" (column_names: snake_case): '
        "rename one at the source, or set column_names: keep"
    )


def test_under_keep_names_that_differ_only_in_case_clash_as_duckdb_ignores_case() -> None:
    assert normalized_names(["a b", "a_b"], "keep") == ["a b", "a_b"]
    with pytest.raises(ColumnNameClash, match='"Email" and "email" are one column'):
        normalized_names(["Email", "email"], "keep")


def test_renames_lists_only_the_names_that_change() -> None:
    header = ["studyName", "Sample Number", "Species", "Body Mass (g)", "Date Egg"]
    assert renames(header, "snake_case") == {
        "studyName": "study_name",
        "Sample Number": "sample_number",
        "Species": "species",
        "Body Mass (g)": "body_mass_g",
        "Date Egg": "date_egg",
    }
    assert renames(header, "keep") == {}


def test_catalog_names_must_be_spelled_as_they_land() -> None:
    check_spelling("signup_date", "snake_case")
    check_spelling("Body Mass (g)", "keep")
    with pytest.raises(ValueError, match="the column is named 'signup_date'"):
        check_spelling("SignupDate", "snake_case")


def test_nested_keys_are_renamed_at_every_level_without_copying_values() -> None:
    records = pa.Table.from_pylist(
        [
            {"userId": 1, "userInfo": {"firstName": "Ada", "Tags": [{"tagName": "x"}]}},
            {"userId": 2, "userInfo": None},
        ]
    )

    renamed, source_names = normalized_records(records, "snake_case")

    assert renamed.to_pylist() == [
        {"user_id": 1, "user_info": {"first_name": "Ada", "tags": [{"tag_name": "x"}]}},
        {"user_id": 2, "user_info": None},
    ]
    assert source_names == {
        "user_id": "userId",
        "user_info": "userInfo",
        "user_info__first_name": "userInfo.firstName",
        "user_info__tags": "userInfo.Tags",
    }


def test_nested_keys_that_land_as_one_name_are_an_error_naming_the_object() -> None:
    records = pa.Table.from_pylist([{"user": {"userId": 1, "user_id": 2}}])

    with pytest.raises(ColumnNameClash, match='in \'user\': the columns "userId" and "user_id"'):
        normalized_records(records, "snake_case")


def test_stored_columns_respelled_by_the_convention_are_found() -> None:
    stored = ["customer_id", "SignupDate", "_load_id"]
    assert respelled_columns(stored, ["customer_id", "signup_date"]) == [
        ("SignupDate", "signup_date")
    ]
    assert respelled_columns(stored, ["customer_id", "signupdate"]) == []  # case only: one column
    assert respelled_columns(["signup_date"], ["SignupDate"]) == [("signup_date", "SignupDate")]


names = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\x00" not in s)
duckdb_settings = settings(deadline=None)  # DuckDB's own time varies on a shared machine


def landed_column(name: str) -> str:
    """The column DuckDB stores for a table created with `name`, quoted."""
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t ({quote(name)} INTEGER)")
        row = con.execute("SELECT name FROM pragma_table_info('t')").fetchone()
    assert row is not None
    return str(row[0])


@given(names)
def test_snake_case_is_idempotent(name: str) -> None:
    once = snake_case(name)
    assert snake_case(once) == once
    check_spelling(once, "snake_case")


@duckdb_settings
@given(names)
def test_snake_case_names_are_plain_duckdb_identifiers(name: str) -> None:
    column = snake_case(name)
    assert column and column[0] in "abcdefghijklmnopqrstuvwxyz_"
    assert set(column) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
    assert landed_column(column) == column


@duckdb_settings
@given(names)
def test_keep_names_are_any_text_quoted_safely(name: str) -> None:
    assert landed_column(normalize(name, "keep")) == name


@given(st.lists(names, min_size=1, max_size=8, unique=True))
def test_names_are_kept_apart_or_the_clash_is_reported(header: list[str]) -> None:
    """Never merged silently: either every column lands under its own name, or the error names
    two source names that land as one."""
    try:
        landed = normalized_names(header, "snake_case")
    except ColumnNameClash as error:
        pairs = [(a, b) for a in header for b in header if a != b]
        assert any(
            f'"{a}" and "{b}"' in str(error) and snake_case(a).lower() == snake_case(b).lower()
            for a, b in pairs
        )
        return
    assert len({name.lower() for name in landed}) == len(header)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12))
def test_distinct_snake_case_names_stay_distinct(stem: str) -> None:
    """Names already in the convention (letters, digits, single underscores) land unchanged, so
    two of them never merge."""
    name = stem if not stem[0].isdigit() else "c" + stem
    assert snake_case(name) == name
    assert snake_case(name + "_a") != snake_case(name + "_b")
