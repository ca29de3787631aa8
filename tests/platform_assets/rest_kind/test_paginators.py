"""Every paginator against a real server on 127.0.0.1: where it starts, continues and stops."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.rest.errors import PaginationLoopError
from tests.platform_assets.rest_kind.server import api, json_response, read, source

__all__ = ["api"]

RECORDS = [{"id": i, "name": f"item {i}"} for i in range(1, 24)]


def page_of(
    records: list[dict[str, int | str]], start: int, size: int
) -> list[dict[str, int | str]]:
    return records[start : start + size]


def test_page_number_pagination_stops_at_the_total_number_of_pages(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        page = int(request.args["page"])
        return json_response({"pages": 3, "items": page_of(RECORDS, (page - 1) * 10, 10)})

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "records": "$.items",
            "paginator": {"type": "page_number", "total_path": "pages"},
        },
    )

    rows, client = read(rest, tmp_path)

    assert rows.column("id").to_pylist() == list(range(1, 24))
    assert client.requests == 3


def test_page_number_pagination_without_total_stops_on_an_empty_page(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        page = int(request.args["p"])
        return json_response(page_of(RECORDS, page * 10, 10))

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "paginator": {"type": "page_number", "page_param": "p", "base_page": 0},
        },
    )

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 23
    assert client.requests == 4


def test_page_number_pagination_honours_maximum_page(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/items").respond_with_handler(
        lambda r: json_response(page_of(RECORDS, (int(r.args["page"]) - 1) * 5, 5))
    )
    rest = source(
        api.url_for("/"),
        endpoint={"path": "/items", "paginator": {"type": "page_number", "maximum_page": 2}},
    )

    rows, _ = read(rest, tmp_path)

    assert rows.column("id").to_pylist() == list(range(1, 11))


def test_a_total_of_records_fetches_the_remaining_pages_in_parallel_in_page_order(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        page = int(request.args["page"])
        time.sleep(0.3 if page == 2 else 0.05)
        return json_response({"totalResults": 23, "articles": page_of(RECORDS, (page - 1) * 5, 5)})

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "records": "$.articles",
            "paginator": {
                "type": "page_number",
                "total_path": "totalResults",
                "total_counts": "records",
            },
        },
    )

    started = time.perf_counter()
    rows, client = read(rest, tmp_path)

    assert rows.column("id").to_pylist() == list(range(1, 24))
    assert client.requests == 5
    assert time.perf_counter() - started < 0.3 + 4 * 0.05


def test_offset_pagination_with_a_total_reads_every_offset_once(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        return json_response({"count": 23, "results": page_of(RECORDS, offset, limit)})

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "records": "$.results",
            "paginator": {"type": "offset", "limit": 10, "total_path": "count"},
        },
    )

    rows, client = read(rest, tmp_path)

    assert rows.column("id").to_pylist() == list(range(1, 24))
    assert client.requests == 3


def test_cursor_pagination_follows_the_cursor_until_has_more_is_false(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        start = int(request.args.get("after", 0))
        chunk = page_of(RECORDS, start, 10)
        return json_response(
            {"data": chunk, "meta": {"next": str(start + 10), "has_more": start + 10 < 23}}
        )

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "records": "$.data",
            "paginator": {
                "type": "cursor",
                "cursor_path": "$.meta.next",
                "cursor_param": "after",
                "has_more_path": "$.meta.has_more",
            },
        },
    )

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 23
    assert client.requests == 3


def test_a_cursor_handed_out_twice_is_a_pagination_loop_error(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_request("/items").respond_with_json({"data": RECORDS[:2], "next": "abc"})
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "records": "$.data",
            "paginator": {"type": "cursor", "cursor_path": "next"},
        },
    )

    with pytest.raises(PaginationLoopError, match="'abc' was already used"):
        read(rest, tmp_path)


def test_link_header_pagination_follows_next_until_absent(api: HTTPServer, tmp_path: Path) -> None:
    def handler(request: Request) -> Response:
        page = int(request.args.get("page", 1))
        headers = {}
        if page < 3:
            headers["Link"] = (
                f'<{api.url_for("/items")}?page={page + 1}&per_page=10>; rel="next", '
                f'<{api.url_for("/items")}?page=3&per_page=10>; rel="last"'
            )
        return json_response(page_of(RECORDS, (page - 1) * 10, 10), headers=headers)

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={"path": "/items", "params": {"per_page": 10}, "paginator": "link_header"},
    )

    rows, client = read(rest, tmp_path)

    assert rows.column("id").to_pylist() == list(range(1, 24))
    assert client.requests == 3


def test_a_next_link_back_to_a_fetched_page_is_a_pagination_loop_error(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        page = request.args.get("page", "1")
        following = "2" if page == "1" else "1"
        return json_response(
            {"results": RECORDS[:1], "next": f"{api.url_for('/items')}?page={following}"}
        )

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={"path": "/items", "records": "$.results", "paginator": {"type": "next_url"}},
    )

    with pytest.raises(PaginationLoopError, match="already fetched"):
        read(rest, tmp_path)


def test_next_url_pagination_follows_relative_urls_in_the_body(
    api: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        page = int(request.args.get("page", 1))
        following = f"/items?page={page + 1}" if page < 3 else None
        return json_response({"results": page_of(RECORDS, (page - 1) * 10, 10), "next": following})

    api.expect_request("/items").respond_with_handler(handler)
    rest = source(
        api.url_for("/"),
        endpoint={
            "path": "/items",
            "records": "$.results",
            "paginator": {"type": "next_url", "next_url_path": "next"},
        },
    )

    rows, _ = read(rest, tmp_path)

    assert rows.num_rows == 23


def test_single_page_makes_one_request(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/items").respond_with_json({"results": RECORDS, "next": "ignored"})
    rest = source(api.url_for("/"), endpoint={"path": "/items", "records": "$.results"})

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 23
    assert client.requests == 1


def test_an_api_that_ignores_the_page_parameter_is_a_pagination_loop_error(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_request("/items").respond_with_json(RECORDS[:5])
    rest = source(api.url_for("/"), endpoint={"path": "/items", "paginator": "page_number"})

    with pytest.raises(PaginationLoopError, match="repeated an earlier page"):
        read(rest, tmp_path)

    assert len(api.log) == 2
