"""Paginators: given a page and its response, the request for the next page (or the remaining
pages all at once, when their number is known). A cursor or URL seen twice is an error."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin

import requests

from platform_assets.config.rest import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePagePaginator,
)
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


class Paging:
    """The pagination state of one endpoint call: `first()`, then `next()` until None."""

    def __init__(self, config: Paginator) -> None:
        self.config = config
        self._seen: set[str] = set()

    def first(self, request: PageRequest) -> PageRequest:
        config = self.config
        if isinstance(config, PageNumberPaginator):
            return request.with_params(**{config.page_param: config.base_page})
        if isinstance(config, OffsetPaginator):
            return request.with_params(**{config.offset_param: 0, config.limit_param: config.limit})
        return request

    def remaining(self, page: Fetched) -> list[PageRequest] | None:
        """Every request after the first, when the first page tells how many there are."""
        config = self.config
        total = self._total(page)
        if total is None or page.records == 0:
            return None
        if isinstance(config, PageNumberPaginator):
            pages = total if config.total_counts == "pages" else math.ceil(total / page.records)
            last = config.base_page + pages - 1
            if config.maximum_page is not None:
                last = min(last, config.maximum_page)
            return [
                page.request.with_params(**{config.page_param: number})
                for number in range(config.base_page + 1, last + 1)
            ]
        if isinstance(config, OffsetPaginator):
            end = total if config.maximum_offset is None else min(total, config.maximum_offset)
            return [
                page.request.with_params(**{config.offset_param: offset})
                for offset in range(config.limit, end, config.limit)
            ]
        return None

    def _total(self, page: Fetched) -> int | None:
        path = getattr(self.config, "total_path", None)
        if path is None:
            return None
        value = find_one(page.document, path)
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def next(self, page: Fetched) -> PageRequest | None:
        config = self.config
        if isinstance(config, SinglePagePaginator):
            return None
        if isinstance(config, PageNumberPaginator | OffsetPaginator) and page.records:
            digest = hashlib.sha256(page.response.content).hexdigest()
            self._once(f"body {digest}", "a page repeated an earlier page's content")
        if isinstance(config, PageNumberPaginator):
            number = int(page.request.params[config.page_param])
            if page.records == 0 or (
                config.maximum_page is not None and number >= config.maximum_page
            ):
                return None
            return page.request.with_params(**{config.page_param: number + 1})
        if isinstance(config, OffsetPaginator):
            offset = int(page.request.params[config.offset_param]) + config.limit
            limit = config.maximum_offset
            if page.records == 0 or (limit is not None and offset >= limit):
                return None
            return page.request.with_params(**{config.offset_param: offset})
        if isinstance(config, CursorPaginator):
            return self._cursor_next(config, page)
        if isinstance(config, LinkHeaderPaginator):
            link = page.response.links.get(config.rel, {}).get("url")
            return self._url_next(page, link)
        assert isinstance(config, NextUrlPaginator)
        return self._url_next(page, find_one(page.document, config.next_url_path))

    def _cursor_next(self, config: CursorPaginator, page: Fetched) -> PageRequest | None:
        if config.has_more_path is not None and not find_one(page.document, config.has_more_path):
            return None
        cursor = find_one(page.document, config.cursor_path)
        if cursor in (None, "") or page.records == 0:
            return None
        self._once(f"cursor {cursor}", f"the cursor {cursor!r} was already used")
        return page.request.with_params(**{config.cursor_param: cursor})

    def _url_next(self, page: Fetched, link: Any) -> PageRequest | None:
        if not link:
            return None
        if not self._seen:
            self._seen.add(f"url {page.response.url}")
        url = urljoin(page.response.url, str(link))
        self._once(f"url {url}", "the next-page URL points to a page already fetched")
        return PageRequest(url=url, json=page.request.json)

    def _once(self, key: str, what: str) -> None:
        if key in self._seen:
            raise PaginationLoopError(f"pagination loop: {what}")
        self._seen.add(key)
