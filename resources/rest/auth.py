"""Request authentication mechanisms (`requests` auth), from plain resolved values: an API key
in a header or the query, a bearer token, OAuth2 client credentials."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from resources.redaction import Redactor
from resources.rest.errors import RestError


class ApiKey(AuthBase):
    def __init__(self, name: str, value: str, location: str) -> None:
        self.name, self.value, self.location = name, value, location

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.location == "header":
            request.headers[self.name] = self.value
        else:
            request.prepare_url(request.url, {self.name: self.value})
        return request


class Bearer(AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class ClientCredentials(AuthBase):
    """OAuth2 client credentials: one token, shared by all threads, cached until it expires
    (or `invalidate()` is called after a 401). `scopes` go space-separated as `scope`."""

    def __init__(
        self,
        token_url: str,
        scopes: tuple[str, ...],
        client_id: str,
        client_secret: str,
        post: Callable[..., requests.Response],
        redact: Redactor,
        timeout: float,
    ) -> None:
        self.token_url, self.scopes = token_url, scopes
        self.client_id, self.client_secret = client_id, client_secret
        self._post, self._redact, self._timeout = post, redact, timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetched = 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        data = {"grant_type": "client_credentials"}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        url = self.token_url
        try:
            response = self._post(
                url,
                data=data,
                auth=HTTPBasicAuth(self.client_id, self.client_secret),
                timeout=self._timeout,
            )
            response.raise_for_status()
            body = response.json()
            token = str(body["access_token"])
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            raise RestError(
                self._redact(f"oauth2 token request to {url} failed: {error}")
            ) from None
        self.fetched += 1
        self._redact.add(token)
        lifetime = float(body.get("expires_in") or 3600)
        return token, time.monotonic() + max(lifetime - 30, lifetime / 2)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request
