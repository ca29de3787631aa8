"""What can go wrong talking to an API, and how secrets are kept out of the telling."""

from __future__ import annotations

from resources.errors import TributaryError

BODY_EXCERPT = 300


class RestError(TributaryError):
    """A request or its response failed; the text names the URL (secrets redacted) and cause."""


class RestHTTPError(RestError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RestResponseError(RestError):
    """The response is not what the catalog says: not JSON, no records at the path, ..."""


class PaginationLoopError(RestError):
    """The API handed out a page cursor or URL it had handed out before."""
