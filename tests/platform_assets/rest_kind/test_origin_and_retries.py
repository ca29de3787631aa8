"""Credentials go only to the origin of `base_url` (two real servers on 127.0.0.1, different
ports), and requests that are not idempotent are retried only when that is safe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from platform_assets.rest_kind.reader import RestReader
from resources.rest.errors import RestError
from tests.platform_assets.rest_kind.server import api, json_response, local_server, read, source

__all__ = ["api"]

SECRET_CLIENT = {
    "auth": {"type": "bearer", "token": "${API_TOKEN}"},
    "headers": {"X-Tenant-Key": "${TENANT_KEY}", "Accept": "application/json"},
}


@pytest.fixture
def elsewhere() -> Iterator[HTTPServer]:
    """A second server: same host, another port, so another origin."""
    yield from local_server()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-origin-77")
    monkeypatch.setenv("TENANT_KEY", "tenant-key-55")


def recorder(seen: list[dict[str, str]], body: object) -> object:
    def handler(request: Request) -> Response:
        seen.append(dict(request.headers))
        return json_response(body)

    return handler


def test_a_next_page_on_another_origin_gets_neither_auth_nor_secret_headers(
    api: HTTPServer, elsewhere: HTTPServer, tmp_path: Path
) -> None:
    home: list[dict[str, str]] = []
    away: list[dict[str, str]] = []
    api.expect_request("/items").respond_with_handler(
        recorder(home, {"items": [{"id": 1}], "next": elsewhere.url_for("/page2")})
    )
    elsewhere.expect_request("/page2").respond_with_handler(
        recorder(away, {"items": [{"id": 2}], "next": None})
    )
    rest = source(
        api.url_for("/"),
        client=SECRET_CLIENT,
        endpoint={"path": "/items", "records": "$.items", "paginator": "next_url"},
    )

    rows, _ = read(rest, tmp_path)

    assert rows.column("id").to_pylist() == [1, 2]
    assert home[0]["Authorization"] == "Bearer tok-origin-77"
    assert home[0]["X-Tenant-Key"] == "tenant-key-55"
    assert "Authorization" not in away[0]
    assert "X-Tenant-Key" not in away[0]
    assert away[0]["Accept"] == "application/json"


def test_a_redirect_to_another_origin_gets_neither_auth_nor_secret_headers(
    api: HTTPServer, elsewhere: HTTPServer, tmp_path: Path
) -> None:
    away: list[dict[str, str]] = []
    api.expect_request("/items").respond_with_response(
        Response(status=302, headers={"Location": elsewhere.url_for("/moved")})
    )
    elsewhere.expect_request("/moved").respond_with_handler(recorder(away, [{"id": 1}]))
    rest = source(
        api.url_for("/"),
        client={
            **SECRET_CLIENT,
            "auth": {"type": "api_key", "name": "X-Api-Key", "value": "${API_TOKEN}"},
        },
        endpoint={"path": "/items"},
    )

    rows, _ = read(rest, tmp_path)

    assert rows.num_rows == 1
    assert "X-Api-Key" not in away[0]
    assert "X-Tenant-Key" not in away[0]


def test_a_secret_query_parameter_is_resolved_at_run_time_and_redacted(
    api: HTTPServer, tmp_path: Path
) -> None:
    api.expect_request("/items").respond_with_response(Response("gone", status=404))
    rest = source(api.url_for("/"), endpoint={"path": "/items", "params": {"key": "${TENANT_KEY}"}})

    assert rest.tables[0].endpoint.params == {"key": "${TENANT_KEY}"}
    with pytest.raises(RestError) as failure:
        read(rest, tmp_path)

    assert "key=***" in str(failure.value)
    assert "tenant-key-55" not in str(failure.value)


def flaky(status: int) -> object:
    calls: list[int] = []

    def handler(_request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            return json_response({"error": "busy"}, status=status)
        return json_response([{"id": 1}])

    return handler


def test_a_post_is_not_retried_after_a_503(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/search", method="POST").respond_with_handler(flaky(503))
    rest = source(api.url_for("/"), endpoint={"path": "/search", "method": "POST", "json": {}})

    with pytest.raises(
        RestError,
        match=r"503 .*not retried: POST is not idempotent; set "
        r"endpoint\.retry_non_idempotent: true",
    ):
        read(rest, tmp_path)

    assert len(api.log) == 1


def test_a_post_whose_endpoint_opts_in_is_retried(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/search", method="POST").respond_with_handler(flaky(503))
    rest = source(
        api.url_for("/"),
        endpoint={"path": "/search", "method": "POST", "json": {}, "retry_non_idempotent": True},
    )

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 1
    assert client.retries == 1


def test_a_post_refused_with_429_is_retried(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/search", method="POST").respond_with_handler(flaky(429))
    rest = source(api.url_for("/"), endpoint={"path": "/search", "method": "POST", "json": {}})

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 1
    assert client.retries == 1


def test_a_header_variable_that_is_not_set_fails_the_run_naming_header_and_variable(
    tmp_path: Path,
) -> None:
    rest = source(
        "http://127.0.0.1:9",
        client={"headers": {"X-Key": "${UNSET_HEADER_VAR}"}},
        endpoint={"path": "/a"},
    )

    with pytest.raises(
        RestError, match=r"client\.headers\.X-Key: environment variable UNSET_HEADER_VAR is not set"
    ):
        RestReader(cache_dir=str(tmp_path)).client(rest)


def test_a_variable_declared_public_is_neither_redacted_nor_kept_home(
    api: HTTPServer, elsewhere: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGION", "eu-west")
    away: list[dict[str, str]] = []
    api.expect_request("/items").respond_with_json(
        {"items": [{"id": 1}], "next": elsewhere.url_for("/page2")}
    )
    elsewhere.expect_request("/page2").respond_with_handler(
        recorder(away, {"items": [{"id": 2}], "next": None})
    )
    rest = source(
        api.url_for("/"),
        client={
            **SECRET_CLIENT,
            "headers": {"X-Region": "${REGION}", "X-Tenant-Key": "${TENANT_KEY}"},
            "public_variables": ["REGION"],
        },
        endpoint={"path": "/items", "records": "$.items", "paginator": "next_url"},
    )

    rows, client = read(rest, tmp_path)

    assert rows.num_rows == 2
    assert away[0]["X-Region"] == "eu-west"
    assert "X-Tenant-Key" not in away[0]
    assert client.redact("eu-west tenant-key-55") == "eu-west ***"
