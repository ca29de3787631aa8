"""From JSON documents to Arrow tables: JSONPath, nested objects, lists of objects, layouts."""

from __future__ import annotations

import pyarrow as pa

from resources.rest.records import coalesce, flatten, records_at

DOC = {
    "features": [
        {
            "id": "a",
            "properties": {"mag": 2.5, "place": {"name": "Alaska", "region": {"code": "AK"}}},
            "geometry": {"coordinates": [1.0, 2.0, 3.0]},
            "picks": [{"station": "X1", "delay": 0.4}, {"station": "Y2", "delay": 1.1}],
        },
        {"id": "b", "properties": {"mag": None, "place": None}, "picks": []},
    ]
}


def test_records_are_found_by_jsonpath_and_nested_objects_become_double_underscore_columns() -> (
    None
):
    records = records_at(DOC, "$.features")

    flat = flatten(records, max_nesting=2, parent_id=records.column("id")).table

    assert flat.column_names == [
        "id",
        "properties__mag",
        "properties__place__name",
        "properties__place__region",
        "geometry__coordinates",
    ]
    assert flat.column("properties__place__name").to_pylist() == ["Alaska", None]
    assert flat.column("geometry__coordinates").to_pylist() == [[1.0, 2.0, 3.0], None]


def test_objects_deeper_than_max_nesting_are_kept_as_json_text() -> None:
    records = records_at(DOC, "$.features")

    flat = flatten(records, max_nesting=2, parent_id=records.column("id")).table

    assert flat.column("properties__place__region").to_pylist() == ['{"code": "AK"}', None]


def test_lists_of_objects_become_a_child_table_with_parent_id_and_index() -> None:
    records = records_at(DOC, "$.features")

    children = flatten(records, max_nesting=2, parent_id=records.column("id")).children

    assert children["picks"].to_pylist() == [
        {"station": "X1", "delay": 0.4, "_parent_id": "a", "_index": 0},
        {"station": "Y2", "delay": 1.1, "_parent_id": "a", "_index": 1},
    ]


def test_an_object_of_arrays_is_read_as_columns() -> None:
    document = {"hourly": {"time": ["00:00", "01:00"], "temperature_2m": [3.5, 3.1]}}

    table = records_at(document, "$.hourly", layout="columns")

    assert table.to_pylist() == [
        {"time": "00:00", "temperature_2m": 3.5},
        {"time": "01:00", "temperature_2m": 3.1},
    ]


def test_a_field_whose_type_changes_between_records_is_kept_as_json_text() -> None:
    table = records_at([{"id": 1, "v": 1}, {"id": 2, "v": "two"}], "$")

    assert table.column("v").to_pylist() == ["1", '"two"']


def test_pages_are_coalesced_into_larger_parts_with_columns_united_by_name() -> None:
    pages = [pa.table({"id": [1, 2]}), pa.table({"id": [3], "extra": ["x"]})]

    parts = list(coalesce(pages, rows=10))

    assert len(parts) == 1
    assert parts[0].to_pylist() == [
        {"id": 1, "extra": None},
        {"id": 2, "extra": None},
        {"id": 3, "extra": "x"},
    ]
