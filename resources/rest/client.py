"""One HTTP client per source and run: auth, retries with backoff, a shared rate limit, a cache.

Every request of the source, from any thread, goes through `RestClient.request`, so the rate
limit and the counters (requests, retries, bytes) cover them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from pyrate_limiter import Duration, Limiter, Rate
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from resources.env import MissingVariableError
from resources.redaction import Redactor
from resources.rest.auth import ClientCredentials
from resources.rest.errors import BODY_EXCERPT, RestError, RestHTTPError
from resources.rest.secrets import is_secret, origin, resolve

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods RFC 9110 calls idempotent: retried on transient failures. Others (POST) only on a
429 or a connect timeout (the server did not act on them), unless the endpoint opts in."""
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _Transient(Exception):
    def __init__(
        self, message: str, retry_after: float | None = None, not_acted_on: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after, self.not_acted_on = retry_after, not_acted_on


class _NoAuth(AuthBase):
    """No credentials at all (not even `.netrc`'s), for requests off the origin."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_NO_AUTH = _NoAuth()


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds to wait: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


AuthFactory = Callable[[Callable[..., requests.Response], float], AuthBase]
"""Given the session's `post` (for token requests) and the timeout in seconds, the `requests`
auth of every request to the origin. It resolves its secrets and gives them to the redactor."""


@dataclass(frozen=True)
class ClientSettings:
    """One source's HTTP client, in plain values.

    `headers` keep their `${VAR}` templates: each is resolved when the client opens, and is a
    secret (redacted, sent to the origin only, kept out of the cache) unless its variables are
    all in `public_variables`. `auth_headers` are header names the auth sets besides
    `Authorization` (an API key's), dropped off the origin; `auth_parameters` are parameter or
    header names the response cache ignores. At most one of `requests_per_second` and
    `requests_per_minute` is set. `max_wait` and `timeout` are seconds."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    public_variables: frozenset[str] = frozenset()
    auth: AuthFactory | None = None
    auth_headers: tuple[str, ...] = ()
    auth_parameters: tuple[str, ...] = ()
    requests_per_second: float | None = None
    requests_per_minute: float | None = None
    max_attempts: int = 5
    max_wait: float = 60.0
    timeout: float = 30.0
    max_workers: int = 8
    cache_ttl: timedelta | None = None


def _limiter(settings: ClientSettings) -> Limiter | None:
    if settings.requests_per_second is not None:
        per, window = settings.requests_per_second, Duration.SECOND
    elif settings.requests_per_minute is not None:
        per, window = float(settings.requests_per_minute), Duration.MINUTE
    else:
        return None
    if per >= 1:
        return Limiter(Rate(int(per), window))
    return Limiter(Rate(1, int(int(window) / per)))


class RestClient:
    """Auth and every header holding a `${VAR}` (a secret) are sent only to the origin of
    `base_url`: next-page URLs and redirects to other hosts or ports get neither.
    `secret_params` are parameter names kept out of the response cache."""

    def __init__(
        self,
        settings: ClientSettings,
        redact: Redactor,
        cache_path: Path | None = None,
        secret_params: frozenset[str] = frozenset(),
    ) -> None:
        self.settings, self.redact = settings, redact
        self.origin = origin(settings.base_url)
        self.secret_headers: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        for name, value in settings.headers.items():
            try:
                resolved = resolve(value, redact, settings.public_variables)
            except MissingVariableError as error:
                raise RestError(f"client.headers.{name}: {error}") from None
            if is_secret(value, settings.public_variables):
                self.secret_headers[name] = resolved
            else:
                self.headers[name] = resolved
        self.session = self._session(cache_path, secret_params)
        self.timeout = settings.timeout
        self.auth = settings.auth(self.session.post, self.timeout) if settings.auth else None
        self.limiter = _limiter(settings)
        self._lock = threading.Lock()
        self.requests = self.retries = self.bytes_read = 0

    def _session(self, cache_path: Path | None, secret_params: frozenset[str]) -> requests.Session:
        session: requests.Session
        if self.settings.cache_ttl is not None and cache_path is not None:
            from requests_cache import CachedSession

            cache_path.parent.mkdir(parents=True, exist_ok=True)
            ignored = ["Authorization", "X-API-KEY", "access_token", "api_key"]
            ignored += [*self.secret_headers, *sorted(secret_params)]
            ignored += self.settings.auth_parameters
            session = CachedSession(
                str(cache_path),
                backend="sqlite",
                expire_after=self.settings.cache_ttl,
                allowable_methods=("GET",),
                ignored_parameters=ignored,
            )
        else:
            session = requests.Session()
        pool = self.settings.max_workers * 2
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self.headers)
        session.rebuild_auth = self._rebuild_auth_for(session)  # type: ignore[method-assign]
        return session

    def _rebuild_auth_for(
        self, session: requests.Session
    ) -> Callable[[requests.PreparedRequest, requests.Response], None]:
        """requests drops `Authorization` on a redirect to another host, but not an API key
        header or a secret header, and not on another port: drop them all off the origin."""
        rebuild = session.rebuild_auth

        def rebuild_auth(prepared: requests.PreparedRequest, response: requests.Response) -> None:
            rebuild(prepared, response)  # type: ignore[no-untyped-call]
            if not self.same_origin(prepared.url or ""):
                for name in self._secret_header_names():
                    prepared.headers.pop(name, None)

        return rebuild_auth

    def _secret_header_names(self) -> list[str]:
        return ["Authorization", *self.secret_headers, *self.settings.auth_headers]

    def same_origin(self, url: str) -> bool:
        """Whether `url` has the scheme, host and port of `base_url`."""
        return origin(url) == self.origin

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")

    def _count(self, requests_: int = 0, retries: int = 0, bytes_: int = 0) -> None:
        with self._lock:
            self.requests += requests_
            self.retries += retries
            self.bytes_read += bytes_

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        retry_non_idempotent: bool = False,
    ) -> requests.Response:
        """The response to a successful request, after retrying transient failures; otherwise
        a `RestError` naming the URL (secrets redacted), the status and a body excerpt.
        A method that is not idempotent (POST) is retried only on a 429 or a connect timeout,
        unless `retry_non_idempotent`: the server may have acted on the failed attempt."""
        max_wait = self.settings.max_wait
        backoff = wait_random_exponential(multiplier=0.5, max=max_wait)
        any_failure = retry_non_idempotent or method.upper() in IDEMPOTENT_METHODS

        def retryable(error: BaseException) -> bool:
            return isinstance(error, _Transient) and (any_failure or error.not_acted_on)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Transient) and error.retry_after is not None:
                return min(error.retry_after, max_wait)
            return float(backoff(state))

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=wait,
            retry=retry_if_exception(retryable),
            before_sleep=lambda _state: self._count(retries=1),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, params, json)
        except _Transient as error:
            if not retryable(error):
                raise RestError(
                    f"{error} (not retried: {method} is not idempotent; set "
                    f"endpoint.retry_non_idempotent: true if repeating it is safe)"
                ) from None
            attempts = self.settings.max_attempts
            raise RestError(f"{error} (gave up after {attempts} attempts)") from None

    def _attempt(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        refreshed: bool = False,
    ) -> requests.Response:
        if self.limiter is not None:
            self.limiter.try_acquire("source")
        shown = self.redact(_with_params(url, params))
        home = self.same_origin(url)
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                headers=self.secret_headers if home else None,
                auth=self.auth if home else _NO_AUTH,
                timeout=self.timeout,
            )
        except _TRANSIENT as error:
            self._count(requests_=1)
            raise _Transient(
                f"{method} {shown}: {type(error).__name__}: {self.redact(str(error))}",
                not_acted_on=isinstance(error, requests.exceptions.ConnectTimeout),
            ) from None
        except requests.RequestException as error:
            self._count(requests_=1)
            raise RestError(f"{method} {shown}: {self.redact(str(error))}") from None
        if not getattr(response, "from_cache", False):
            self._count(requests_=1, bytes_=len(response.content))
        status = response.status_code
        if status == 401 and isinstance(self.auth, ClientCredentials) and not refreshed:
            self.auth.invalidate(response.request.headers.get("Authorization", "")[7:])
            return self._attempt(method, url, params, json, refreshed=True)
        if status < 400:
            return response
        excerpt = self.redact(response.text[:BODY_EXCERPT].strip())
        message = f"{method} {self.redact(response.url)} returned {status} {response.reason}"
        message += f": {excerpt}" if excerpt else ""
        if status in RETRYABLE_STATUS:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise _Transient(message, retry_after, not_acted_on=status == 429)
        raise RestHTTPError(message, status)

    def close(self) -> None:
        self.session.close()


def _with_params(url: str, params: dict[str, Any] | None) -> str:
    if not params:
        return url
    return requests.Request("GET", url, params=params).prepare().url or url
