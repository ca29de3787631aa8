"""Keeping secrets out of what the platform tells: error lines, logs, metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"

_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@", re.I
)
_SECRET_PARAMETER = re.compile(
    r"(?P<name>\b[\w-]*(?:token|password|passwd|pwd|secret|api[_-]?key|apikey|signature|"
    r"auth|key)\b\s*[=:]\s*)(?P<value>[^&\s'\"]+)",
    re.I,
)
_BEARER = re.compile(r"(?P<name>\bBearer\s+)(?P<value>[A-Za-z0-9._~+/=-]+)", re.I)


class Redactor:
    """Replaces each secret (as written, and URL-encoded) in a text with `***`.

    Secrets shorter than 3 characters are ignored: replacing them would garble ordinary text.
    """

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


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every value in `secrets`, URL passwords and token-like parameters masked."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _SECRET_PARAMETER.sub(lambda m: f"{m['name']}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m['name']}{REDACTED}", text)
