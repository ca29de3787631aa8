"""A real HTTP server on 127.0.0.1 for REST tests, and a way to read a table through the reader."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from platform_assets.rest_kind.config import RestSource
from platform_assets.rest_kind.reader import RestReader
from resources.rest.client import RestClient

Handler = Callable[[Request], Response]


def local_server() -> Iterator[HTTPServer]:
    """A real HTTP server on 127.0.0.1 (a free port), stopped afterwards: a fixture's body."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def api() -> Iterator[HTTPServer]:
    yield from local_server()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def source(base_url: str, client: dict[str, Any] | None = None, **table: Any) -> RestSource:
    """A one-table source `api.items`: `client` adds to the client, `table` to the table."""
    return RestSource.model_validate(
        {
            "name": "api",
            "kind": "rest",
            "client": {
                "base_url": base_url,
                "retry": {"max_attempts": 4, "max_wait": "2s"},
                **(client or {}),
            },
            "tables": [{"name": "items", **table}],
        }
    )


def read(rest: RestSource, tmp_path: Path, table: int = 0) -> tuple[pa.Table, RestClient]:
    """Every row of a table through the reader (no warehouse), and the client it used."""
    reader = RestReader(cache_dir=str(tmp_path / "cache"))
    client = reader.client(rest)
    batches = [b.table for b in reader.batches(client, rest, rest.tables[table])]
    rows = pa.concat_tables([b for b in batches if b.num_columns], promote_options="default")
    return rows, client


class DroppingServer:
    """Answers its first `drops` connections with half a body and a closed socket, then JSON."""

    def __init__(self, body: bytes, drops: int = 1) -> None:
        self.body, self.drops, self.connections = body, drops, 0
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.connections += 1
                head = (
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
                ).encode()
                if self.connections <= self.drops:
                    conn.sendall(head + self.body[: len(self.body) // 2])
                else:
                    conn.sendall(head + self.body)

    def close(self) -> None:
        self.socket.close()
