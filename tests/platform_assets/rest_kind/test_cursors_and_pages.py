"""Incremental cursors compare timestamps as instants, and pages without records are empty."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pytest_httpserver import HTTPServer

from platform_assets.rest_kind.config import Incremental
from resources.cursors import later
from resources.rest.errors import RestResponseError
from resources.rest.incremental import batch_maximum, before_end
from tests.platform_assets.rest_kind.server import api, read, source

__all__ = ["api"]


def test_later_compares_timestamps_with_offsets_as_instants() -> None:
    assert later("2024-05-01T10:00:00+02:00", "2024-05-01T09:00:00Z") == "2024-05-01T09:00:00Z"
    assert later("9", "10") == "10"


def test_the_batch_maximum_is_the_latest_instant_in_utc() -> None:
    rows = pa.table(
        {"changed_at": ["2024-05-01T10:00:00+02:00", "2024-05-01T07:30:00-01:00", None]}
    )

    assert batch_maximum(rows, "changed_at") == "2024-05-01T08:30:00Z"


def test_end_value_keeps_records_up_to_the_same_instant_whatever_their_offset() -> None:
    records = pa.table(
        {"id": [1, 2], "changed_at": ["2024-05-01T10:00:00+02:00", "2024-05-01T09:30:00Z"]}
    )
    config = Incremental(cursor_field="changed_at", param="since", end_value="2024-05-01T09:00:00Z")

    assert before_end(records, config).column("id").to_pylist() == [1]


def test_a_null_page_ends_a_cursor_paginator_without_a_row(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_oneshot_request("/users", query_string="").respond_with_json(
        {"users": [{"id": 1}], "next_token": "p2"}
    )
    api.expect_request("/users", query_string="next_token=p2").respond_with_json(
        {"users": None, "next_token": None}
    )
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/users",
            "records": "$.users",
            "paginator": {
                "type": "cursor",
                "cursor_path": "$.next_token",
                "cursor_param": "next_token",
            },
        },
    )

    rows, _ = read(rest, tmp_path)

    assert rows.to_pylist() == [{"id": 1}]


def test_null_items_of_a_records_list_are_no_records(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/users").respond_with_json([{"id": 1}, None])

    rows, _ = read(source(api.url_for("/"), endpoint={"path": "/users"}), tmp_path)

    assert rows.to_pylist() == [{"id": 1}]


def test_a_first_page_without_the_records_key_is_still_an_error(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_request("/users").respond_with_json({"data": []})
    rest = source(api.url_for("/"), endpoint={"path": "/users", "records": "$.users"})

    with pytest.raises(RestResponseError, match=r"records: no records at '\$\.users'"):
        read(rest, tmp_path)


def test_numeric_cursors_beyond_a_double_compare_exactly() -> None:
    assert later("9007199254740993", "9007199254740992") == "9007199254740993"
    assert later("9007199254740992", "9007199254740993") == "9007199254740993"
