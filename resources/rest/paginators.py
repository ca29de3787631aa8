"""Paginators: one small class per strategy (dlt's shape). Each is built from plain typed
arguments and holds the pagination state of ONE endpoint call: `first()` shapes the first
request, `remaining()` lists every later request at once when the first page tells how many
there are, `next()` reads a page's response and returns the request for the next page, or None
at the end. A cursor, URL or page body seen twice is a `PaginationLoopError`."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urljoin

import requests

from resources.rest.errors import PaginationLoopError
from resources.rest.records import find_one


@dataclass(frozen=True)
class PageRequest:
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def with_params(self, **params: Any) -> PageRequest:
        return replace(self, params={**self.params, **params})


@dataclass(frozen=True)
class Fetched:
    request: PageRequest
    response: requests.Response
    document: Any
    records: int


class Paginator:
    """The base of every strategy: one request, no further page. Subclasses override `next`
    (and `first` / `remaining` where the strategy numbers its pages)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def first(self, request: PageRequest) -> PageRequest:
        """The first request, given the endpoint's request (params and body)."""
        return request

    def remaining(self, page: Fetched) -> list[PageRequest] | None:
        """Every request after the first, when the first page tells how many there are."""
        return None

    def next(self, page: Fetched) -> PageRequest | None:
        """The request for the page after `page`, or None when `page` was the last."""
        return None

    def _once(self, key: str, what: str) -> None:
        if key in self._seen:
            raise PaginationLoopError(f"pagination loop: {what}")
        self._seen.add(key)

    def _same_body_once(self, page: Fetched) -> None:
        if page.records:
            digest = hashlib.sha256(page.response.content).hexdigest()
            self._once(f"body {digest}", "a page repeated an earlier page's content")


def _total(page: Fetched, total_path: str | None) -> int | None:
    if total_path is None:
        return None
    value = find_one(page.document, total_path)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class SinglePagePaginator(Paginator):
    """The endpoint answers with everything on one page."""


class PageNumberPaginator(Paginator):
    """`page_param` counts pages from `base_page`; stops on an empty page, at `maximum_page`,
    or (all pages fetched in parallel) at the total read at `total_path` (a JSONPath), which
    counts pages or records as `total_counts` says."""

    def __init__(
        self,
        page_param: str = "page",
        base_page: int = 1,
        total_path: str | None = None,
        total_counts: Literal["pages", "records"] = "pages",
        maximum_page: int | None = None,
    ) -> None:
        super().__init__()
        self.page_param, self.base_page = page_param, base_page
        self.total_path, self.total_counts = total_path, total_counts
        self.maximum_page = maximum_page

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.page_param: self.base_page})

    def remaining(self, page: Fetched) -> list[PageRequest] | None:
        total = _total(page, self.total_path)
        if total is None or page.records == 0:
            return None
        pages = total if self.total_counts == "pages" else math.ceil(total / page.records)
        last = self.base_page + pages - 1
        if self.maximum_page is not None:
            last = min(last, self.maximum_page)
        return [
            page.request.with_params(**{self.page_param: number})
            for number in range(self.base_page + 1, last + 1)
        ]

    def next(self, page: Fetched) -> PageRequest | None:
        self._same_body_once(page)
        number = int(page.request.params[self.page_param])
        if page.records == 0 or (self.maximum_page is not None and number >= self.maximum_page):
            return None
        return page.request.with_params(**{self.page_param: number + 1})


class OffsetPaginator(Paginator):
    """`offset_param` advances by `limit` (sent as `limit_param`); stops on an empty page, at
    `maximum_offset`, or (all pages fetched in parallel) at the record total at `total_path`."""

    def __init__(
        self,
        offset_param: str = "offset",
        limit_param: str = "limit",
        limit: int = 100,
        total_path: str | None = None,
        maximum_offset: int | None = None,
    ) -> None:
        super().__init__()
        self.offset_param, self.limit_param, self.limit = offset_param, limit_param, limit
        self.total_path, self.maximum_offset = total_path, maximum_offset

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.offset_param: 0, self.limit_param: self.limit})

    def remaining(self, page: Fetched) -> list[PageRequest] | None:
        total = _total(page, self.total_path)
        if total is None or page.records == 0:
            return None
        end = total if self.maximum_offset is None else min(total, self.maximum_offset)
        return [
            page.request.with_params(**{self.offset_param: offset})
            for offset in range(self.limit, end, self.limit)
        ]

    def next(self, page: Fetched) -> PageRequest | None:
        self._same_body_once(page)
        offset = int(page.request.params[self.offset_param]) + self.limit
        limit = self.maximum_offset
        if page.records == 0 or (limit is not None and offset >= limit):
            return None
        return page.request.with_params(**{self.offset_param: offset})


class CursorPaginator(Paginator):
    """The cursor at `cursor_path` (a JSONPath) goes back as `cursor_param`; stops on an empty
    page, a missing or empty cursor, or a false value at `has_more_path`."""

    def __init__(
        self,
        cursor_path: str = "$.next_cursor",
        cursor_param: str = "cursor",
        has_more_path: str | None = None,
    ) -> None:
        super().__init__()
        self.cursor_path, self.cursor_param = cursor_path, cursor_param
        self.has_more_path = has_more_path

    def next(self, page: Fetched) -> PageRequest | None:
        if self.has_more_path is not None and not find_one(page.document, self.has_more_path):
            return None
        cursor = find_one(page.document, self.cursor_path)
        if cursor in (None, "") or page.records == 0:
            return None
        self._once(f"cursor {cursor}", f"the cursor {cursor!r} was already used")
        return page.request.with_params(**{self.cursor_param: cursor})


class _UrlPaginator(Paginator):
    """Follows a next-page URL (relative to the page's own URL), each URL at most once."""

    def _follow(self, page: Fetched, link: Any) -> PageRequest | None:
        if not link:
            return None
        if not self._seen:
            self._seen.add(f"url {page.response.url}")
        url = urljoin(page.response.url, str(link))
        self._once(f"url {url}", "the next-page URL points to a page already fetched")
        return PageRequest(url=url, json=page.request.json)


class LinkHeaderPaginator(_UrlPaginator):
    """The next page is the `Link` response header's URL with relation `rel`."""

    def __init__(self, rel: str = "next") -> None:
        super().__init__()
        self.rel = rel

    def next(self, page: Fetched) -> PageRequest | None:
        return self._follow(page, page.response.links.get(self.rel, {}).get("url"))


class NextUrlPaginator(_UrlPaginator):
    """The next page is the URL at `next_url_path` (a JSONPath) in the response body."""

    def __init__(self, next_url_path: str = "$.next") -> None:
        super().__init__()
        self.next_url_path = next_url_path

    def next(self, page: Fetched) -> PageRequest | None:
        return self._follow(page, find_one(page.document, self.next_url_path))
