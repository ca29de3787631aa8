"""A local stand-in for the public APIs the demo's REST sources read, on 127.0.0.1.

Responses are shaped like the real ones (Open-Meteo, NewsAPI, GitHub, USGS, an
exchange-rate service) and served from
`data/samples/api/`. Each API lives under a prefix, so a source's `base_url` is
`http://127.0.0.1:<port>/<prefix>` here and the real API's root otherwise:

    python -m platform_assets.demo_api --port 8765
"""

from __future__ import annotations

import argparse
import json
import math
import threading
from collections.abc import Callable
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "api"
DEFAULT_PORT = 8765
NEWS_KEY = "demo-news-key"
FX_KEY = "demo-fx-key"
GITHUB_TOKEN = "demo-github-token"
PREFIXES = {
    "weather": "OPEN_METEO_API_URL",
    "news": "NEWSAPI_URL",
    "github": "GITHUB_API_URL",
    "earthquakes": "USGS_API_URL",
    "fx": "FX_API_URL",
}
"""The demo's API prefixes and the environment variable that points each source elsewhere."""

Reply = tuple[int, Any, dict[str, str]]


@cache
def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def _weather(_query: dict[str, str], _headers: dict[str, str], _base: str) -> Reply:
    return 200, sample("open_meteo_forecast.json"), {}


def _news(query: dict[str, str], headers: dict[str, str], _base: str) -> Reply:
    if headers.get("x-api-key") != NEWS_KEY:
        return 401, {"status": "error", "code": "apiKeyInvalid", "message": "Invalid API key"}, {}
    articles = sample("newsapi_articles.json")
    size = min(int(query.get("pageSize", 20)), 100)
    page = int(query.get("page", 1))
    body = {
        "status": "ok",
        "totalResults": len(articles),
        "articles": articles[(page - 1) * size : page * size],
    }
    return 200, body, {}


def _issues(query: dict[str, str], headers: dict[str, str], base: str) -> Reply:
    if headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
        return 401, {"message": "Bad credentials", "status": "401"}, {}
    since = query.get("since", "")
    issues = [i for i in sample("github_issues.json") if i["updated_at"] >= since]
    size = min(int(query.get("per_page", 30)), 100)
    page = int(query.get("page", 1))
    last = max(1, math.ceil(len(issues) / size))
    links = {}
    if page < last:
        following = urlencode({**query, "page": page + 1})
        final = urlencode({**query, "page": last})
        links["Link"] = f'<{base}?{following}>; rel="next", <{base}?{final}>; rel="last"'
    return 200, issues[(page - 1) * size : page * size], links


def _earthquakes(query: dict[str, str], _headers: dict[str, str], _base: str) -> Reply:
    if query.get("format") != "geojson":
        return 400, {"error": "format=geojson is required"}, {}
    return 200, sample("usgs_earthquakes.geojson"), {}


def _fx_calendar(query: dict[str, str], headers: dict[str, str], _base: str) -> Reply:
    if headers.get("x-api-key") != FX_KEY:
        return 403, {"error": "a valid X-API-Key header is required"}, {}
    after = query.get("after", "")
    days = [d["date"] for d in sample("ecb_fx_rates.json")["publications"] if d["date"] > after]
    return 200, {"dates": days}, {}


def _fx_rates(query: dict[str, str], headers: dict[str, str], _base: str) -> Reply:
    if headers.get("x-api-key") != FX_KEY:
        return 403, {"error": "a valid X-API-Key header is required"}, {}
    days = {d["date"]: d for d in sample("ecb_fx_rates.json")["publications"]}
    if query.get("date") not in days:
        return 404, {"error": f"no publication on {query.get('date')}"}, {}
    return 200, days[query["date"]], {}


ROUTES: dict[str, Callable[[dict[str, str], dict[str, str], str], Reply]] = {
    "/weather/v1/forecast": _weather,
    "/news/v2/everything": _news,
    "/github/repos/dagster-io/dagster/issues": _issues,
    "/earthquakes/fdsnws/event/1/query": _earthquakes,
    "/fx/v1/calendar": _fx_calendar,
    "/fx/v1/rates": _fx_rates,
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        route = ROUTES.get(url.path)
        if route is None:
            self._send(404, {"message": "Not Found"}, {})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = self.headers.get("Host") or "127.0.0.1"
        self._send(*route(query, headers, f"http://{host}{url.path}"))

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


def start(port: int = 0) -> ThreadingHTTPServer:
    """Serve on 127.0.0.1:`port` (0: any free port) in a background thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-api").start()
    return server


def base_urls(port: int) -> dict[str, str]:
    """The environment that points every demo source at a server on `port`."""
    return {env: f"http://127.0.0.1:{port}/{prefix}" for prefix, env in PREFIXES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    port = parser.parse_args().port
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    print(f"demo APIs on http://127.0.0.1:{port}/{{{','.join(PREFIXES)}}}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
