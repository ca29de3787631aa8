"""A paginator is one small class per strategy, built from plain arguments (no catalog): it
shapes the first request, reads each response and returns the next request, or None."""

from __future__ import annotations

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.rest.errors import PaginationLoopError
from resources.rest.paginators import (
    CursorPaginator,
    Fetched,
    OffsetPaginator,
    PageRequest,
    Paginator,
)
from tests.platform_assets.rest_kind.server import api, json_response

__all__ = ["api"]


def walk(paginator: Paginator, request: PageRequest, records: str) -> list[dict[str, object]]:
    """Every request the paginator makes, in order, against the real server."""
    sent: list[dict[str, object]] = []
    next_request: PageRequest | None = paginator.first(request)
    while next_request is not None:
        response = requests.get(next_request.url, params=next_request.params, timeout=5)
        document = response.json()
        sent.append(dict(next_request.params))
        page = Fetched(next_request, response, document, len(document[records]))
        next_request = paginator.next(page)
    return sent


def test_a_cursor_paginator_sends_back_each_cursor_until_there_is_none(api: HTTPServer) -> None:
    pages = {None: ("a", [1, 2]), "a": ("b", [3, 4]), "b": (None, [5])}

    def handler(request: Request) -> Response:
        cursor, items = pages[request.args.get("after")]
        return json_response({"items": items, "meta": {"next": cursor}})

    api.expect_request("/items").respond_with_handler(handler)
    paginator = CursorPaginator(cursor_path="$.meta.next", cursor_param="after")

    sent = walk(paginator, PageRequest(url=api.url_for("/items")), "items")

    assert sent == [{}, {"after": "a"}, {"after": "b"}]


def test_an_offset_paginator_starts_at_zero_and_stops_at_maximum_offset(api: HTTPServer) -> None:
    api.expect_request("/items").respond_with_handler(
        lambda r: json_response({"items": [int(r.args["skip"])] * 10})
    )
    paginator = OffsetPaginator(
        offset_param="skip", limit_param="take", limit=10, maximum_offset=30
    )

    sent = walk(paginator, PageRequest(url=api.url_for("/items")), "items")

    assert sent == [{"skip": 0, "take": 10}, {"skip": 10, "take": 10}, {"skip": 20, "take": 10}]


def test_a_cursor_seen_twice_is_a_pagination_loop(api: HTTPServer) -> None:
    api.expect_request("/items").respond_with_json({"items": [1], "next_cursor": "same"})

    with pytest.raises(PaginationLoopError, match="the cursor 'same' was already used"):
        walk(CursorPaginator(), PageRequest(url=api.url_for("/items")), "items")
