"""Reading JSON HTTP APIs: client (auth, retries, rate limit, cache), paginators, records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resources.rest.errors import RestError

if TYPE_CHECKING:
    from resources.rest.reader import RestReader

__all__ = ["RestError", "RestReader"]


def __getattr__(name: str) -> Any:
    # The reader is a Dagster resource; importing the client (plugins do) must not load Dagster.
    if name == "RestReader":
        from resources.rest.reader import RestReader

        return RestReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
