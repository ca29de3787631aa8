"""JSON numbers reach Arrow exactly as the API wrote them: integers beyond 64 bits, decimals
beyond a double's 17 digits, in records, nested objects, child tables, column layouts and JSON
text; a number no type holds fails naming its field. The server sends the bytes as written."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from platform_assets.rest_kind.reader import RestReader
from resources.rest.errors import RestError, RestResponseError
from resources.rest.records import coalesce
from tests.platform_assets.rest_kind.server import api, read, source

__all__ = ["api"]


def serve(api: HTTPServer, body: str, path: str = "/items") -> None:
    api.expect_request(path).respond_with_response(
        Response(body, status=200, mimetype="application/json")
    )


def test_an_integer_beyond_bigint_lands_as_ubigint(api: HTTPServer, tmp_path: Path) -> None:
    serve(api, '[{"id": 14933243513335727983}, {"id": 5}]')

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)

    assert rows.schema.field("id").type == pa.uint64()
    assert rows.column("id").to_pylist() == [14933243513335727983, 5]


def test_integers_beyond_ubigint_or_negative_beyond_bigint_land_as_decimal_38_0(
    api: HTTPServer, tmp_path: Path
) -> None:
    serve(api, '[{"id": 14933243513335727983}, {"id": -1}, {"id": 18446744073709551616}]')

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)

    assert rows.schema.field("id").type == pa.decimal128(38, 0)
    assert rows.column("id").to_pylist() == [
        Decimal(14933243513335727983),
        Decimal(-1),
        Decimal(18446744073709551616),
    ]


def test_a_decimal_beyond_a_double_lands_as_an_exact_decimal(
    api: HTTPServer, tmp_path: Path
) -> None:
    serve(api, '[{"x": 0.1234567890123456789}, {"x": 0.5}, {"x": 12}]')

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)

    assert rows.schema.field("x").type == pa.decimal128(21, 19)
    assert rows.column("x").to_pylist() == [
        Decimal("0.1234567890123456789"),
        Decimal("0.5"),
        Decimal("12"),
    ]


def test_numbers_a_double_holds_exactly_stay_doubles(api: HTTPServer, tmp_path: Path) -> None:
    serve(api, '[{"x": 0.1}, {"x": 2.5e-7}, {"x": 3}]')

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)

    assert rows.schema.field("x").type == pa.float64()
    assert rows.column("x").to_pylist() == [0.1, 2.5e-7, 3.0]


def test_a_double_is_never_chosen_for_an_integer_it_cannot_hold(
    api: HTTPServer, tmp_path: Path
) -> None:
    serve(api, '[{"x": 9007199254740993}, {"x": 1.5}]')

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)

    assert rows.column("x").to_pylist() == [Decimal("9007199254740993"), Decimal("1.5")]


def test_nested_objects_child_tables_and_column_layouts_keep_wide_numbers(
    api: HTTPServer, tmp_path: Path
) -> None:
    serve(
        api,
        '[{"id": 1, "stats": {"big": 14933243513335727983, "ratio": 0.1234567890123456789},'
        ' "lines": [{"amount": 0.1234567890123456789}, {"amount": 2}]}]',
    )
    serve(api, '{"hourly": {"id": [14933243513335727983, 1]}}', "/hourly")
    rest = source(api.url_for("/"), endpoint={"path": "/items"}, primary_key="id")
    reader = RestReader(cache_dir=str(tmp_path))
    client = reader.client(rest)

    [batch] = list(reader.batches(client, rest, rest.tables[0]))
    columns = source(
        api.url_for("/"),
        endpoint={"path": "/hourly", "records": "$.hourly", "records_layout": "columns"},
    )
    hourly, _ = read(columns, tmp_path)

    assert batch.table.column("stats__big").to_pylist() == [14933243513335727983]
    assert batch.table.column("stats__ratio").to_pylist() == [Decimal("0.1234567890123456789")]
    assert batch.children["lines"].column("amount").to_pylist() == [
        Decimal("0.1234567890123456789"),
        Decimal("2"),
    ]
    assert hourly.column("id").to_pylist() == [14933243513335727983, 1]


def test_json_text_writes_numbers_as_they_were_read(api: HTTPServer, tmp_path: Path) -> None:
    serve(
        api,
        '[{"v": "text", "deep": {"a": {"b": {"c": 0.1234567890123456789}}}},'
        ' {"v": 14933243513335727983, "deep": null}]',
    )

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)

    assert rows.column("v").to_pylist() == ['"text"', "14933243513335727983"]
    assert rows.column("deep__a__b").to_pylist() == ['{"c": 0.1234567890123456789}', None]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[{"id": 123456789012345678901234567890123456789012}]',
            "field 'id': no exact type holds the number 123456789012345678901234567890123456789012",
        ),
        ('[{"x": 1e400}]', "field 'x': no exact type holds the number 1E+400"),
        (
            '[{"m": {"x": 12345678901234567890123}}, {"m": {"x": 0.1234567890123456789}}]',
            "field 'm.x': no exact type holds both 12345678901234567890123 and "
            "0.1234567890123456789",
        ),
    ],
)
def test_a_number_no_type_holds_exactly_fails_naming_field_and_value(
    api: HTTPServer, tmp_path: Path, body: str, message: str
) -> None:
    serve(api, body)

    with pytest.raises(RestResponseError, match=message.replace("+", r"\+")):
        read(source(api.url_for("/"), endpoint={"path": "/items"}), tmp_path)


@pytest.mark.parametrize(
    ("first", "second", "united"),
    [
        (
            pa.array([1.5]),
            pa.array([Decimal("0.1234567890123456789")]),
            pa.array([Decimal("1.5"), Decimal("0.1234567890123456789")], pa.decimal128(20, 19)),
        ),
        (
            pa.array([5], pa.int64()),
            pa.array([14933243513335727983], pa.uint64()),
            pa.array([5, 14933243513335727983], pa.uint64()),
        ),
        (
            pa.array([-5], pa.int64()),
            pa.array([14933243513335727983], pa.uint64()),
            pa.array([Decimal(-5), Decimal(14933243513335727983)], pa.decimal128(38, 0)),
        ),
        (
            pa.array([9007199254740993], pa.int64()),
            pa.array([1.5]),
            pa.array([Decimal(9007199254740993), Decimal("1.5")], pa.decimal128(17, 1)),
        ),
    ],
)
def test_pages_whose_number_types_differ_are_united_in_the_type_that_holds_both(
    first: pa.Array, second: pa.Array, united: pa.Array
) -> None:
    parts = list(coalesce([pa.table({"x": first}), pa.table({"x": second})]))

    assert [part.column("x").combine_chunks() for part in parts] == [united]


def test_pages_whose_numbers_no_type_holds_together_fail_naming_the_field() -> None:
    pages = [
        pa.table({"x": pa.array([Decimal("12345678901234567890123")])}),
        pa.table({"x": pa.array([Decimal("0.1234567890123456789")])}),
    ]

    with pytest.raises(RestError, match="field 'x': no exact type holds both"):
        list(coalesce(pages))


def test_pages_whose_types_widen_exactly_are_joined() -> None:
    parts = list(
        coalesce(
            [
                pa.table({"x": pa.array([5], pa.int64())}),
                pa.table({"x": pa.array([Decimal("14933243513335727983")], pa.decimal128(38, 0))}),
            ]
        )
    )

    assert [part.column("x").to_pylist() for part in parts] == [
        [Decimal(5), Decimal("14933243513335727983")]
    ]
