"""Retries, Retry-After, failures that must not be retried, timeouts, dropped connections, and
the rate limit shared by concurrent requests, all against real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.rest.client import retry_after_seconds
from resources.rest.errors import RestError, RestHTTPError, RestResponseError
from tests.platform_assets.rest_kind.server import DroppingServer, api, json_response, read, source

__all__ = ["api"]


def test_a_429_waits_as_long_as_retry_after_says_then_succeeds(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_oneshot_request("/items").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    api.expect_request("/items").respond_with_json([{"id": 1}])
    rest = source(api.url_for("/"), endpoint={"path": "/items"})

    started = time.perf_counter()
    rows, client = read(rest, tmp_path)

    assert time.perf_counter() - started >= 0.95
    assert rows.num_rows == 1
    assert (client.requests, client.retries) == (2, 1)


def test_retry_after_may_be_an_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)

    waited = retry_after_seconds(format_datetime(later, usegmt=True))

    assert waited is not None and 28 <= waited <= 30
    assert retry_after_seconds("7") == 7.0


def test_a_burst_of_503s_is_retried_with_backoff(api: HTTPServer, tmp_path: Path) -> None:
    for _ in range(3):
        api.expect_ordered_request("/items").respond_with_data("busy", status=503)
    api.expect_ordered_request("/items").respond_with_json([{"id": 1}, {"id": 2}])
    rest = source(api.url_for("/"), endpoint={"path": "/items"})

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 2
    assert client.retries == 3


def test_retries_give_up_after_max_attempts_naming_the_status(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_request("/items").respond_with_data("down for maintenance", status=503)
    rest = source(
        api.url_for("/"),
        client={"retry": {"max_attempts": 2, "max_wait": "1s"}},
        endpoint={"path": "/items"},
    )

    with pytest.raises(
        RestError, match=r"503 SERVICE UNAVAILABLE: down for maintenance.*2 attempts"
    ):
        read(rest, tmp_path)


def test_a_404_fails_at_once_with_status_url_and_body_excerpt(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_request("/items").respond_with_json({"message": "Not Found"}, status=404)
    rest = source(api.url_for("/"), endpoint={"path": "/items", "params": {"q": "x"}})

    with pytest.raises(RestHTTPError) as failure:
        read(rest, tmp_path)

    assert failure.value.status == 404
    assert "/items?q=x returned 404" in str(failure.value)
    assert "Not Found" in str(failure.value)
    assert len(api.log) == 1


def test_a_timeout_is_retried(api: HTTPServer, tmp_path: Path) -> None:
    def slow_then_fast(request: Request) -> Response:
        if len(api.log) == 0:
            time.sleep(1.0)
        return json_response([{"id": 1}])

    api.expect_request("/items").respond_with_handler(slow_then_fast)
    rest = source(api.url_for("/"), client={"timeout": 0.3}, endpoint={"path": "/items"})

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 1
    assert client.retries >= 1


def test_a_connection_dropped_mid_body_is_retried(tmp_path: Path) -> None:
    server = DroppingServer(json.dumps([{"id": i} for i in range(100)]).encode(), drops=2)
    try:
        rest = source(server.url, endpoint={"path": "/items"})

        rows, client = read(rest, tmp_path)
    finally:
        server.close()

    assert rows.num_rows == 100
    assert server.connections == 3
    assert client.retries == 2


def test_malformed_json_is_a_clear_error_naming_the_url(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/items").respond_with_data(
        '[{"id": 1}, {"id": 2', content_type="application/json"
    )
    rest = source(api.url_for("/"), endpoint={"path": "/items"})

    with pytest.raises(
        RestResponseError,
        match=r"GET http://127\.0\.0\.1:\d+/items: the response is not valid JSON",
    ):
        read(rest, tmp_path)


def test_concurrent_requests_share_the_sources_rate_limit(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/items").respond_with_handler(
        lambda r: json_response({"total": 12, "items": [{"page": int(r.args["page"])}]})
    )
    rest = source(
        api.url_for("/"),
        client={"rate_limit": {"requests_per_second": 5}, "max_workers": 8},
        endpoint={
            "path": "/items",
            "records": "items",
            "paginator": {"type": "page_number", "total_path": "total"},
        },
    )

    started = time.perf_counter()
    rows, _ = read(rest, tmp_path)

    assert rows.num_rows == 12
    assert time.perf_counter() - started >= 2.0
