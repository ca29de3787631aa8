"""What can go wrong talking to an API, and how secrets are kept out of the telling."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from resources.errors import TributaryError

REDACTED = "***"
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


class Redactor:
    """Replaces each secret (as written, and URL-encoded) in a text with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        for secret in secrets:
            if len(secret) >= 3:
                self._secrets |= {secret, quote(secret, safe=""), quote_plus(secret)}

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text
