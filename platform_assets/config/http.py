"""`client:` of a source that speaks HTTP (`kind: rest`, and `kind: python` plugins that ask for
the platform's client): base URL, auth, headers, paging, rate limit, retries, cache.

`open_client` translates these settings into the plain ones of `resources.rest.client`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, model_validator

from platform_assets.config.env import check_references
from platform_assets.config.jsonpath import JsonPath
from platform_assets.config.types import CatalogModel, Duration
from resources.env import interpolate
from resources.redaction import Redactor

# The HTTP client (requests, its rate limiter) loads when a run opens one: listing and
# validating a catalog reads these models only.
if TYPE_CHECKING:
    import requests
    from requests.auth import AuthBase

    from resources.rest.client import ClientSettings, RestClient


class ApiKeyAuth(CatalogModel):
    run_time_fields: ClassVar[frozenset[str]] = frozenset({"value"})
    type: Literal["api_key"]
    name: str = Field(min_length=1)
    location: Literal["header", "query"] = "header"
    value: str = Field(min_length=1)


class BearerAuth(CatalogModel):
    run_time_fields: ClassVar[frozenset[str]] = frozenset({"token"})
    type: Literal["bearer"]
    token: str = Field(min_length=1)


class BasicAuth(CatalogModel):
    run_time_fields: ClassVar[frozenset[str]] = frozenset({"username", "password"})
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: str


class OAuth2ClientCredentials(CatalogModel):
    run_time_fields: ClassVar[frozenset[str]] = frozenset({"client_id", "client_secret"})
    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    scopes: tuple[str, ...] = ()


def _type_of(value: Any) -> str | None:
    found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return found if isinstance(found, str) else None


Auth = Annotated[
    Annotated[ApiKeyAuth, Tag("api_key")]
    | Annotated[BearerAuth, Tag("bearer")]
    | Annotated[BasicAuth, Tag("basic")]
    | Annotated[OAuth2ClientCredentials, Tag("oauth2_client_credentials")],
    Discriminator(_type_of),
]


class RateLimit(CatalogModel):
    """Shared by every request of the source, however many run at once."""

    requests_per_second: float | None = Field(default=None, gt=0)
    requests_per_minute: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_rate(self) -> RateLimit:
        if (self.requests_per_second is None) == (self.requests_per_minute is None):
            raise ValueError("set exactly one of requests_per_second, requests_per_minute")
        return self


class RetryPolicy(CatalogModel):
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_wait: Duration = timedelta(seconds=60)


class PageNumberPaginator(CatalogModel):
    type: Literal["page_number"]
    page_param: str = "page"
    base_page: int = 1
    total_path: JsonPath | None = None
    total_counts: Literal["pages", "records"] = "pages"
    maximum_page: int | None = Field(default=None, ge=0)


class OffsetPaginator(CatalogModel):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=100, ge=1)
    total_path: JsonPath | None = None
    maximum_offset: int | None = Field(default=None, ge=0)


class CursorPaginator(CatalogModel):
    type: Literal["cursor"]
    cursor_path: JsonPath = "$.next_cursor"
    cursor_param: str = "cursor"
    has_more_path: JsonPath | None = None


class LinkHeaderPaginator(CatalogModel):
    type: Literal["link_header"]
    rel: str = "next"


class NextUrlPaginator(CatalogModel):
    type: Literal["next_url"]
    next_url_path: JsonPath = "$.next"


class SinglePagePaginator(CatalogModel):
    type: Literal["single_page"]


def _paginator_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


Paginator = Annotated[
    Annotated[PageNumberPaginator, Tag("page_number")]
    | Annotated[OffsetPaginator, Tag("offset")]
    | Annotated[CursorPaginator, Tag("cursor")]
    | Annotated[LinkHeaderPaginator, Tag("link_header")]
    | Annotated[NextUrlPaginator, Tag("next_url")]
    | Annotated[SinglePagePaginator, Tag("single_page")],
    Discriminator(_type_of),
    BeforeValidator(_paginator_shorthand),
]


class ClientConfig(CatalogModel):
    """`headers` keep their `${VAR}` templates: every interpolated value is a secret, resolved
    by a run and redacted from what it reports, unless its variable is in `public_variables`.
    `base_url` is resolved when the catalog loads and is not secret (errors show it)."""

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"auth", "headers"})
    base_url: str = Field(pattern=r"^https?://")
    auth: Auth | None = None
    headers: Annotated[dict[str, str], AfterValidator(check_references)] = Field(
        default_factory=dict
    )
    paginator: Paginator | None = None
    rate_limit: RateLimit | None = None
    retry: RetryPolicy = Field(default_factory=lambda: RetryPolicy())
    timeout: Duration = timedelta(seconds=30)
    max_workers: int = Field(default=8, ge=1, le=64)
    cache_ttl: Duration | None = None
    public_variables: frozenset[str] = frozenset()


def _auth_factory(
    auth: Auth, redact: Redactor
) -> Callable[[Callable[..., requests.Response], float], AuthBase]:
    """What builds the `requests` auth once the client has its session's `post` and its
    timeout (seconds); it resolves `auth`'s secrets then, each given to `redact`."""

    def secret(template: str) -> str:
        value = interpolate(template)
        redact.add(value)
        return value

    def build(post: Callable[..., requests.Response], timeout: float) -> AuthBase:
        from requests.auth import HTTPBasicAuth

        from resources.rest.auth import ApiKey, Bearer, ClientCredentials

        if isinstance(auth, ApiKeyAuth):
            return ApiKey(auth.name, secret(auth.value), auth.location)
        if isinstance(auth, BearerAuth):
            return Bearer(secret(auth.token))
        if isinstance(auth, BasicAuth):
            return HTTPBasicAuth(secret(auth.username), secret(auth.password))
        return ClientCredentials(
            auth.token_url,
            auth.scopes,
            secret(auth.client_id),
            secret(auth.client_secret),
            post,
            redact,
            timeout,
        )

    return build


def client_settings(config: ClientConfig, redact: Redactor) -> ClientSettings:
    """The plain settings of `config`; the `${VAR}` secrets of its auth and headers are
    resolved by the client, and given to `redact`."""
    from resources.rest.client import ClientSettings

    auth = config.auth
    api_key = auth if isinstance(auth, ApiKeyAuth) else None
    rate = config.rate_limit
    return ClientSettings(
        base_url=config.base_url,
        headers=dict(config.headers),
        public_variables=config.public_variables,
        auth=_auth_factory(auth, redact) if auth is not None else None,
        auth_headers=(api_key.name,) if api_key and api_key.location == "header" else (),
        auth_parameters=(api_key.name,) if api_key else (),
        requests_per_second=rate.requests_per_second if rate else None,
        requests_per_minute=rate.requests_per_minute if rate else None,
        max_attempts=config.retry.max_attempts,
        max_wait=config.retry.max_wait.total_seconds(),
        timeout=config.timeout.total_seconds(),
        max_workers=config.max_workers,
        cache_ttl=config.cache_ttl,
    )


def open_client(
    config: ClientConfig,
    redact: Redactor,
    cache_path: Path | None = None,
    secret_params: frozenset[str] = frozenset(),
) -> RestClient:
    """A client for one run, from the catalog's `client:` settings (close it when done).
    Raises `RestError` for an unset variable of the headers, `MissingVariableError` for one of
    the auth."""
    from resources.rest.client import RestClient

    return RestClient(client_settings(config, redact), redact, cache_path, secret_params)


__all__ = [
    "ApiKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ClientConfig",
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "RateLimit",
    "RetryPolicy",
    "SinglePagePaginator",
    "client_settings",
    "open_client",
]
