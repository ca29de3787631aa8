"""One HTTP client per source and run: auth, retries with backoff, a shared rate limit, a cache.

Every request of the source, from any thread, goes through `RestClient.request`, so the rate
limit and the counters (requests, retries, bytes) cover them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from pyrate_limiter import Duration, Limiter, Rate
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from platform_assets.config.rest import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientConfig,
    RateLimit,
)
from resources.env import MissingVariableError, interpolate
from resources.redaction import Redactor
from resources.rest.auth import ApiKey, Bearer, ClientCredentials
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


def build_auth(
    config: Auth | None,
    redact: Redactor,
    post: Callable[..., requests.Response],
    timeout: float,
) -> AuthBase | None:
    """The `requests` auth for `config`; every secret it resolves is given to `redact`."""

    def secret(template: str) -> str:
        value = interpolate(template)
        redact.add(value)
        return value

    if config is None:
        return None
    if isinstance(config, ApiKeyAuth):
        return ApiKey(config.name, secret(config.value), config.location)
    if isinstance(config, BearerAuth):
        return Bearer(secret(config.token))
    if isinstance(config, BasicAuth):
        return HTTPBasicAuth(secret(config.username), secret(config.password))
    return ClientCredentials(
        config.token_url,
        config.scopes,
        secret(config.client_id),
        secret(config.client_secret),
        post,
        redact,
        timeout,
    )


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
    """Auth and every header holding a `${VAR}` (a secret) are sent only to the origin of
    `base_url`: next-page URLs and redirects to other hosts or ports get neither.
    `secret_params` are parameter names kept out of the response cache."""

    def __init__(
        self,
        config: ClientConfig,
        redact: Redactor,
        cache_path: Path | None = None,
        secret_params: frozenset[str] = frozenset(),
    ) -> None:
        self.config, self.redact = config, redact
        self.origin = origin(config.base_url)
        self.secret_headers: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        for name, value in config.headers.items():
            try:
                resolved = resolve(value, redact, config.public_variables)
            except MissingVariableError as error:
                raise RestError(f"client.headers.{name}: {error}") from None
            if is_secret(value, config.public_variables):
                self.secret_headers[name] = resolved
            else:
                self.headers[name] = resolved
        self.session = self._session(cache_path, secret_params)
        self.timeout = config.timeout.total_seconds()
        self.auth = build_auth(config.auth, redact, self.session.post, self.timeout)
        self.limiter = _limiter(config.rate_limit)
        self._lock = threading.Lock()
        self.requests = self.retries = self.bytes_read = 0

    def _session(self, cache_path: Path | None, secret_params: frozenset[str]) -> requests.Session:
        session: requests.Session
        if self.config.cache_ttl is not None and cache_path is not None:
            from requests_cache import CachedSession

            cache_path.parent.mkdir(parents=True, exist_ok=True)
            ignored = ["Authorization", "X-API-KEY", "access_token", "api_key"]
            ignored += [*self.secret_headers, *sorted(secret_params)]
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
        names = ["Authorization", *self.secret_headers]
        auth = self.config.auth
        if isinstance(auth, ApiKeyAuth) and auth.location == "header":
            names.append(auth.name)
        return names

    def same_origin(self, url: str) -> bool:
        """Whether `url` has the scheme, host and port of `base_url`."""
        return origin(url) == self.origin

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
        retry_non_idempotent: bool = False,
    ) -> requests.Response:
        """The response to a successful request, after retrying transient failures; otherwise
        a `RestError` naming the URL (secrets redacted), the status and a body excerpt.
        A method that is not idempotent (POST) is retried only on a 429 or a connect timeout,
        unless `retry_non_idempotent`: the server may have acted on the failed attempt."""
        policy = self.config.retry
        max_wait = policy.max_wait.total_seconds()
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
            stop=stop_after_attempt(policy.max_attempts),
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
