"""One HTTP client per source and run: auth, retries with backoff, a shared rate limit, a cache.

Every request of the source, from any thread, goes through `RestClient.request`, so the rate
limit and the counters (requests, retries, bytes) cover them all.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from pyrate_limiter import Duration, Limiter, Rate
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from platform_assets.config.rest import ClientConfig, RateLimit
from resources.rest.auth import ClientCredentials, build_auth
from resources.rest.errors import BODY_EXCERPT, Redactor, RestError, RestHTTPError

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def _limiter(rate: RateLimit | None) -> Limiter | None:
    if rate is None:
        return None
    if rate.requests_per_second is not None:
        per, window = rate.requests_per_second, Duration.SECOND
    else:
        per, window = float(rate.requests_per_minute or 0), Duration.MINUTE
    if per >= 1:
        return Limiter(Rate(int(per), window))
    return Limiter(Rate(1, int(int(window) / per)))


class RestClient:
    def __init__(
        self, config: ClientConfig, redact: Redactor, cache_path: Path | None = None
    ) -> None:
        self.config, self.redact = config, redact
        self.session = self._session(cache_path)
        self.timeout = config.timeout.total_seconds()
        self.auth = build_auth(config.auth, redact, self.session.post, self.timeout)
        self.limiter = _limiter(config.rate_limit)
        self._lock = threading.Lock()
        self.requests = self.retries = self.bytes_read = 0

    def _session(self, cache_path: Path | None) -> requests.Session:
        session: requests.Session
        if self.config.cache_ttl is not None and cache_path is not None:
            from requests_cache import CachedSession

            cache_path.parent.mkdir(parents=True, exist_ok=True)
            ignored = ["Authorization", "X-API-KEY", "access_token", "api_key"]
            if self.config.auth is not None and self.config.auth.type == "api_key":
                ignored.append(self.config.auth.name)
            session = CachedSession(
                str(cache_path),
                backend="sqlite",
                expire_after=self.config.cache_ttl,
                allowable_methods=("GET",),
                ignored_parameters=ignored,
            )
        else:
            session = requests.Session()
        pool = self.config.max_workers * 2
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self.config.headers)
        return session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.config.base_url.rstrip("/") + "/" + path.lstrip("/")

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
    ) -> requests.Response:
        """The response to a successful request, after retrying transient failures; otherwise
        a `RestError` naming the URL (secrets redacted), the status and a body excerpt."""
        policy = self.config.retry
        max_wait = policy.max_wait.total_seconds()
        backoff = wait_random_exponential(multiplier=0.5, max=max_wait)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Transient) and error.retry_after is not None:
                return min(error.retry_after, max_wait)
            return float(backoff(state))

        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda _state: self._count(retries=1),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, params, json)
        except _Transient as error:
            raise RestError(f"{error} (gave up after {policy.max_attempts} attempts)") from None

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
        try:
            response = self.session.request(
                method, url, params=params, json=json, auth=self.auth, timeout=self.timeout
            )
        except _TRANSIENT as error:
            self._count(requests_=1)
            raise _Transient(
                f"{method} {shown}: {type(error).__name__}: {self.redact(str(error))}"
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
            raise _Transient(message, retry_after_seconds(response.headers.get("Retry-After")))
        raise RestHTTPError(message, status)

    def close(self) -> None:
        self.session.close()


def _with_params(url: str, params: dict[str, Any] | None) -> str:
    if not params:
        return url
    return requests.Request("GET", url, params=params).prepare().url or url
