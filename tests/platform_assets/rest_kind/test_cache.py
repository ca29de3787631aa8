"""`cache_ttl`: GET responses are kept under the reader's cache folder and reused."""

from __future__ import annotations

from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.platform_assets.rest_kind.server import api, read, source

__all__ = ["api"]


def test_cached_responses_are_reused_within_the_ttl(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/items").respond_with_json([{"id": 1}])
    rest = source(api.url_for("/"), client={"cache_ttl": "10m"}, endpoint={"path": "/items"})

    first, _ = read(rest, tmp_path)
    second, client = read(rest, tmp_path)

    assert first.equals(second)
    assert len(api.log) == 1
    assert client.requests == 0
    assert (tmp_path / "cache" / "api.sqlite").exists()


def test_without_cache_ttl_every_run_asks_again(api: HTTPServer, tmp_path: Path) -> None:
    api.expect_request("/items").respond_with_json([{"id": 1}])
    rest = source(api.url_for("/"), endpoint={"path": "/items"})

    read(rest, tmp_path)
    read(rest, tmp_path)

    assert len(api.log) == 2
    assert not (tmp_path / "cache").exists()
