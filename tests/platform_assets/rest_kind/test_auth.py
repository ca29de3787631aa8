"""Every kind of auth, resolved from the environment at run time, against a real server."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.rest.errors import RestHTTPError
from tests.platform_assets.rest_kind.server import api, json_response, read, source

__all__ = ["api"]

ROWS = [{"id": 1}]


def test_api_key_in_a_header(
    api: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWS_KEY", "k-123")
    api.expect_request("/items", headers={"X-Api-Key": "k-123"}).respond_with_json(ROWS)
    rest = source(
        api.url_for("/"),
        client={"auth": {"type": "api_key", "name": "X-Api-Key", "value": "${NEWS_KEY}"}},
        endpoint={"path": "/items"},
    )

    rows, _ = read(rest, tmp_path)

    assert rows.num_rows == 1


def test_the_key_stays_a_template_until_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWS_KEY", raising=False)
    rest = source(
        "http://127.0.0.1:1",
        client={"auth": {"type": "api_key", "name": "X-Api-Key", "value": "${NEWS_KEY}"}},
        endpoint={"path": "/items"},
    )

    assert "${NEWS_KEY}" in rest.model_dump_json()


def test_api_key_in_the_query_is_redacted_from_errors(
    api: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWS_KEY", "k-secret-123")
    api.expect_request("/items", query_string={"apiKey": "k-secret-123"}).respond_with_json(
        {"error": "key k-secret-123 is over quota"}, status=403
    )
    rest = source(
        api.url_for("/"),
        client={
            "auth": {
                "type": "api_key",
                "name": "apiKey",
                "location": "query",
                "value": "${NEWS_KEY}",
            }
        },
        endpoint={"path": "/items"},
    )

    with pytest.raises(RestHTTPError) as failure:
        read(rest, tmp_path)

    assert "403" in str(failure.value) and "apiKey=***" in str(failure.value)
    assert "k-secret-123" not in str(failure.value)


def test_bearer_token(api: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TOKEN", "ghp_abc")
    api.expect_request("/items", headers={"Authorization": "Bearer ghp_abc"}).respond_with_json(
        ROWS
    )
    rest = source(
        api.url_for("/"),
        client={"auth": {"type": "bearer", "token": "${GH_TOKEN}"}},
        endpoint={"path": "/items"},
    )

    rows, _ = read(rest, tmp_path)

    assert rows.num_rows == 1


def test_basic_auth(api: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PASSWORD", "pa:ss")
    expected = "Basic " + base64.b64encode(b"ann:pa:ss").decode()
    api.expect_request("/items", headers={"Authorization": expected}).respond_with_json(ROWS)
    rest = source(
        api.url_for("/"),
        client={"auth": {"type": "basic", "username": "ann", "password": "${API_PASSWORD}"}},
        endpoint={"path": "/items"},
    )

    rows, _ = read(rest, tmp_path)

    assert rows.num_rows == 1


def _oauth_api(api: HTTPServer, expire_first_token: bool) -> list[str]:
    issued: list[str] = []

    def token(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(b"app:s3cret").decode()
        if request.headers.get("Authorization") != expected:
            return json_response({"error": "invalid_client"}, status=401)
        assert request.form["grant_type"] == "client_credentials"
        assert request.form["scope"] == "read write"
        issued.append(f"tok-{len(issued) + 1}")
        return json_response({"access_token": issued[-1], "expires_in": 3600})

    def items(request: Request) -> Response:
        valid = issued[-1:] if not expire_first_token else issued[1:]
        if request.headers.get("Authorization", "")[7:] not in valid:
            return json_response({"error": "expired"}, status=401)
        page = int(request.args["page"])
        return json_response([{"id": page}] if page <= 3 else [])

    api.expect_request("/token", method="POST").respond_with_handler(token)
    api.expect_request("/items").respond_with_handler(items)
    return issued


def _oauth_source(api: HTTPServer):  # type: ignore[no-untyped-def]
    return source(
        api.url_for("/"),
        client={
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": api.url_for("/token"),
                "client_id": "app",
                "client_secret": "${CLIENT_SECRET}",
                "scopes": ["read", "write"],
            },
        },
        endpoint={"path": "/items", "paginator": "page_number"},
    )


def test_oauth2_client_credentials_token_is_fetched_once_and_reused(
    api: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_SECRET", "s3cret")
    issued = _oauth_api(api, expire_first_token=False)

    rows, client = read(_oauth_source(api), tmp_path)

    assert rows.num_rows == 3
    assert issued == ["tok-1"]
    assert client.requests == 4


def test_oauth2_token_is_refreshed_once_on_401(
    api: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_SECRET", "s3cret")
    issued = _oauth_api(api, expire_first_token=True)

    rows, _ = read(_oauth_source(api), tmp_path)

    assert rows.num_rows == 3
    assert issued == ["tok-1", "tok-2"]
