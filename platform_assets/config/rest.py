"""`kind: rest`: tables read from paginated JSON HTTP APIs (dlt's vocabulary, stricter checks)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, model_validator

from platform_assets.config.base import CatalogModel, SourceConfig, TableConfig
from platform_assets.config.env import check_references
from platform_assets.config.incremental import Cursor, require_write_fits_incremental
from platform_assets.config.jsonpath import JsonPath
from platform_assets.config.types import Duration
from resources.naming import check_spelling

_PARENT_REFERENCE = re.compile(r"\{(?P<table>[a-z_][a-z0-9_]*)\.(?P<field>[A-Za-z_][\w.]*)\}")

ScalarParam = str | int | float | bool


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


class Endpoint(CatalogModel):
    """`params` and `json` keep their `${VAR}` templates, like the client's `headers`."""

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"params", "json_body"})
    path: str = Field(min_length=1)
    method: Literal["GET", "POST"] = "GET"
    params: Annotated[dict[str, ScalarParam], AfterValidator(check_references)] = Field(
        default_factory=dict
    )
    json_body: Annotated[dict[str, Any] | None, AfterValidator(check_references)] = Field(
        default=None, alias="json"
    )
    retry_non_idempotent: bool = False
    records: JsonPath = "$"
    records_layout: Literal["rows", "columns"] = "rows"
    paginator: Paginator | None = None

    @property
    def parent(self) -> tuple[str, str] | None:
        """`(table, field)` of a `{table.field}` placeholder in the path, if any."""
        match = _PARENT_REFERENCE.search(self.path)
        return (match.group("table"), match.group("field")) if match else None

    @model_validator(mode="after")
    def _one_placeholder(self) -> Endpoint:
        if len(_PARENT_REFERENCE.findall(self.path)) > 1:
            raise ValueError("path: at most one {parent_table.field} placeholder is supported")
        return self


class Incremental(Cursor):
    """A REST table's cursor, sent as `param` (in the query or the JSON body); records whose
    cursor is past `end_value` are left out."""

    param: str = Field(min_length=1)
    param_location: Literal["query", "json"] = "query"
    end_value: str | None = None


class RestTable(TableConfig):
    endpoint: Endpoint
    incremental: Incremental | None = None
    max_nesting: int = Field(default=2, ge=0, le=8)

    def named_columns(self) -> Iterator[tuple[str, str]]:
        yield from super().named_columns()
        if self.incremental is not None:
            # `a.b` is the flattened column `a__b`: each part is a name of its own.
            for part in self.incremental.cursor_field.split("."):
                yield "incremental.cursor_field", part

    @model_validator(mode="after")
    def _write_fits_incremental(self) -> RestTable:
        require_write_fits_incremental(self.write, self.incremental)
        return self


class RestSource(SourceConfig):
    kind: Literal["rest"]
    client: ClientConfig
    tables: tuple[RestTable, ...]

    @model_validator(mode="after")
    def _parents_exist(self) -> RestSource:
        names = {t.name for t in self.tables}
        for table in self.tables:
            parent = table.endpoint.parent
            if parent is None:
                continue
            if parent[0] not in names or parent[0] == table.name:
                raise ValueError(
                    f"table {table.name!r}: endpoint.path refers to {parent[0]!r}, "
                    f"which is not another table of this source"
                )
            naming = self.table(parent[0]).column_names
            for part in parent[1].split("."):
                try:
                    check_spelling(part, naming)
                except ValueError as error:
                    raise ValueError(f"table {table.name!r}: endpoint.path: {error}") from None
        return self

    def upstream(self, table: TableConfig) -> set[str]:
        """A table loads after the tables it references and the table its path depends on."""
        found = super().upstream(table)
        parent = table.endpoint.parent if isinstance(table, RestTable) else None
        if parent is not None and parent[0] != table.name:  # `_parents_exist` names the rest
            found.add(parent[0])
        return found

    def load_order(self, names: Collection[str] | None = None) -> list[RestTable]:
        return [t for t in super().load_order(names) if isinstance(t, RestTable)]


__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "ClientConfig",
    "CursorPaginator",
    "Endpoint",
    "Incremental",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "RateLimit",
    "RestSource",
    "RestTable",
    "RetryPolicy",
    "SinglePagePaginator",
]
