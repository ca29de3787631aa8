"""The reader resource of `kind: rest`: a table's pages as Arrow batches, fetched ahead.

It translates the catalog's settings into the ground floor's plain ones once per call: the
client's (`open_client`), the paginator's (`paginator_for`), the incremental cursor's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
from dagster import ConfigurableResource
from pydantic import Field

from platform_assets.config import http as config
from platform_assets.config.http import open_client
from platform_assets.rest_kind.config import RestSource, RestTable
from resources.env import MissingVariableError
from resources.naming import normalized_records
from resources.redaction import Redactor
from resources.rest.client import RestClient
from resources.rest.concurrency import ordered_parallel, prefetch
from resources.rest.errors import (
    BODY_EXCERPT,
    PaginationLoopError,
    RestError,
    RestResponseError,
)
from resources.rest.exact import InexactNumberError, column, loads
from resources.rest.incremental import before_end, require_cursor
from resources.rest.paginators import (
    CursorPaginator,
    Fetched,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    SinglePagePaginator,
)
from resources.rest.records import SEPARATOR, flatten, records_at
from resources.rest.secrets import is_secret, resolve

ROW_ID = "_row_id"
"""Added to rows of a table without a primary key that has child tables: their `_parent_id`."""


@dataclass
class Batch:
    """One page of a table: its rows, and the rows of each child table (by list field)."""

    table: pa.Table
    children: dict[str, pa.Table] = field(default_factory=dict)
    source_names: dict[str, str] = field(default_factory=dict)
    """`{column: key path in the records}` for each name `column_names` changed."""


def parent_column(table: str, field_path: str) -> str:
    """The column a dependent table gets for the parent value its rows were fetched for."""
    return f"_{table}_{field_path.replace('.', SEPARATOR)}"


def paginator_for(paginator: config.Paginator | None) -> Paginator:
    """A fresh paginator (its own loop-detection state) for one endpoint call, from the
    catalog's paginator settings; none set is a single page."""
    match paginator:
        case None | config.SinglePagePaginator():
            return SinglePagePaginator()
        case config.PageNumberPaginator():
            return PageNumberPaginator(
                paginator.page_param,
                paginator.base_page,
                paginator.total_path,
                paginator.total_counts,
                paginator.maximum_page,
            )
        case config.OffsetPaginator():
            return OffsetPaginator(
                paginator.offset_param,
                paginator.limit_param,
                paginator.limit,
                paginator.total_path,
                paginator.maximum_offset,
            )
        case config.CursorPaginator():
            return CursorPaginator(
                paginator.cursor_path, paginator.cursor_param, paginator.has_more_path
            )
        case config.LinkHeaderPaginator():
            return LinkHeaderPaginator(paginator.rel)
        case config.NextUrlPaginator():
            return NextUrlPaginator(paginator.next_url_path)


class RestReader(ConfigurableResource):
    """Opens a `RestClient` per source and run; `cache_ttl` responses go under `cache_dir`."""

    cache_dir: str = Field(description="Where `cache_ttl` keeps cached GET responses.")

    def client(self, source: RestSource) -> RestClient:
        """A client for one run of `source`; it resolves the source's `${VAR}` secrets."""
        secret_params = frozenset(
            name
            for table in source.tables
            for name, value in table.endpoint.params.items()
            if is_secret(value, source.client.public_variables)
        )
        cache = Path(self.cache_dir) / f"{source.name}.sqlite"
        return open_client(source.client, Redactor(), cache, secret_params)

    def batches(
        self,
        client: RestClient,
        source: RestSource,
        table: RestTable,
        start: str | None = None,
        parent_values: Sequence[Any] | None = None,
    ) -> Iterator[Batch]:
        """Every page of `table` as a `Batch`, in page order, fetched ahead of the consumer."""
        fetcher = _TableFetcher(client, source, table, start)
        if parent_values is None:
            return prefetch(fetcher.pages(fetcher.request(table.endpoint.path)))
        return prefetch(fetcher.dependent_pages(parent_values))


class _TableFetcher:
    def __init__(
        self, client: RestClient, source: RestSource, table: RestTable, start: str | None
    ) -> None:
        self.client, self.source, self.table, self.start = client, source, table, start
        endpoint = table.endpoint
        self.paginator = endpoint.paginator or source.client.paginator

    def request(self, path: str) -> PageRequest:
        endpoint, incremental = self.table.endpoint, self.table.incremental
        redact, public = self.client.redact, self.source.client.public_variables
        try:
            params: dict[str, Any] = resolve(dict(endpoint.params), redact, public)
            body = (
                resolve(endpoint.json_body, redact, public)
                if endpoint.json_body is not None
                else None
            )
        except MissingVariableError as error:
            raise RestError(f"endpoint: {error}") from None
        if incremental is not None and self.start is not None:
            if incremental.param_location == "json":
                body = {**(body or {}), incremental.param: self.start}
            else:
                params[incremental.param] = self.start
        return PageRequest(url=self.client.url(path), params=params, json=body)

    def pages(self, request: PageRequest) -> Iterator[Batch]:
        paging = paginator_for(self.paginator)
        next_request: PageRequest | None = paging.first(request)
        first = True
        while next_request is not None:
            fetched, batch = self.fetch(next_request, first)
            yield batch
            remaining = paging.remaining(fetched) if first else None
            if remaining is not None:
                for _page, more in ordered_parallel(
                    self.fetch_later, remaining, self.source.client.max_workers
                ):
                    yield more
                return
            first = False
            try:
                next_request = paging.next(fetched)
            except PaginationLoopError as error:
                shown = self.client.redact(fetched.response.url)
                raise PaginationLoopError(f"{error} (after {shown})") from None

    def dependent_pages(self, parent_values: Sequence[Any]) -> Iterator[Batch]:
        parent = self.table.endpoint.parent
        assert parent is not None
        placeholder = "{" + f"{parent[0]}.{parent[1]}" + "}"
        column_name = parent_column(*parent)

        def for_parent(value: Any) -> list[Batch]:
            path = self.table.endpoint.path.replace(placeholder, quote(str(value), safe=""))
            batches = list(self.pages(self.request(path)))
            for batch in batches:
                if batch.table.num_columns:
                    values = _repeated(column_name, value, batch.table.num_rows)
                    batch.table = batch.table.append_column(column_name, values)
            return batches

        for batches in ordered_parallel(for_parent, parent_values, self.source.client.max_workers):
            yield from batches

    def fetch_later(self, request: PageRequest) -> tuple[Fetched, Batch]:
        """A page after the first: one without the records key holds no records."""
        return self.fetch(request, first=False)

    def fetch(self, request: PageRequest, first: bool = True) -> tuple[Fetched, Batch]:
        """The page at `request` and its records. On the first page of a call the `records`
        path must exist (else the catalog's path is wrong); on later ones a missing key, like a
        `null`, is a page without records."""
        endpoint = self.table.endpoint
        method = endpoint.method
        response = self.client.request(
            method, request.url, request.params, request.json, endpoint.retry_non_idempotent
        )
        shown = f"{method} {self.client.redact(response.url)}"
        try:
            document = loads(response.content)
        except ValueError as error:
            excerpt = self.client.redact(response.text[:BODY_EXCERPT])
            raise RestResponseError(
                f"{shown}: the response is not valid JSON ({error}); it starts: {excerpt!r}"
            ) from None
        try:
            records = records_at(document, endpoint.records, endpoint.records_layout, first)
            # Keys are named once, here, before anything reads them (keys, cursors, children).
            records, source_names = normalized_records(records, self.table.column_names)
        except InexactNumberError as error:
            raise RestResponseError(f"{shown}: {error}") from None
        except ValueError as error:
            raise RestResponseError(f"{shown}: records: {error}") from None
        fetched = Fetched(request, response, document, records.num_rows)
        try:
            batch = self._batch(records)
            batch.source_names = source_names
            return fetched, batch
        except RestError as error:
            raise RestResponseError(f"{shown}: {error}") from None

    def _batch(self, records: pa.Table) -> Batch:
        if records.num_columns == 0:
            return Batch(records)
        if self.table.incremental is not None:
            records = before_end(records, self.table.incremental)
        records, ids = self._parent_ids(records)
        flat = flatten(records, self.table.max_nesting, ids)
        self._require_primary_key(flat.table)
        if self.table.incremental is not None:
            require_cursor(flat.table, self.table.incremental)
        return Batch(flat.table, flat.children)

    def _require_primary_key(self, rows: pa.Table) -> None:
        """Every record carries every column of the primary key (a dependent table's parent
        column is added later, by `dependent_pages`)."""
        parent = self.table.endpoint.parent
        added = parent_column(*parent) if parent is not None else None
        for key in self.table.primary_key:
            if key == added:
                continue
            if key not in rows.column_names:
                raise RestError(f"primary key {key!r} is missing from the records")
            missing = rows.column(key).null_count
            if missing:
                first = pc.index(pc.is_null(rows.column(key)), True).as_py()
                raise RestError(
                    f"primary key {key!r} is missing (or null) in {missing} of "
                    f"{rows.num_rows} records (the first at position {first} of the page)"
                )

    def _parent_ids(self, records: pa.Table) -> tuple[pa.Table, pa.ChunkedArray | None]:
        if not _has_child_lists(records.schema):
            return records, None
        key = self.table.primary_key
        missing = [k for k in key if k not in records.column_names]
        if missing:
            raise RestError(f"primary key {missing[0]!r} is missing from the records")
        if len(key) == 1:
            return records, records.column(key[0])
        if key:
            parts = [pc.cast(records.column(k), pa.string()) for k in key]
            return records, pc.binary_join_element_wise(*parts, "|")
        ids = pa.array([uuid.uuid4().hex for _ in range(records.num_rows)])
        records = records.append_column(ROW_ID, ids)
        return records, records.column(ROW_ID)


def _repeated(name: str, value: Any, count: int) -> pa.Array:
    """A parent value from the warehouse, `count` times; a UBIGINT or HUGEINT one exactly."""
    try:
        return pa.array([value] * count)
    except (OverflowError, pa.ArrowInvalid, pa.ArrowTypeError):
        return column(name, [value] * count)


def _has_child_lists(schema: pa.Schema) -> bool:
    def nested(kind: pa.DataType) -> bool:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return bool(pa.types.is_struct(kind.value_type))
        if pa.types.is_struct(kind):
            return any(nested(kind.field(i).type) for i in range(kind.num_fields))
        return False

    return any(nested(f.type) for f in schema)
