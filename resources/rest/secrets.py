"""Catalog templates resolved at run time: every `${VAR}` value is a secret the redactor knows,
and secrets go only to the origin (scheme, host, port) of the source's `base_url`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from resources.env import interpolate, references
from resources.redaction import Redactor

_DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve(value: Any, redact: Redactor, public: frozenset[str] = frozenset()) -> Any:
    """`value` (a string, or dicts and lists of them) with every `${VAR}` resolved; each value
    substituted, and each string that held one, is given to `redact`, except the values of the
    variables named in `public` (declared not secret)."""
    if isinstance(value, str):
        secret = False

        def register(name: str, found: str) -> None:
            nonlocal secret
            if name not in public:
                secret = True
                redact.add(found)

        if not references(value):
            return value
        resolved = interpolate(value, on_value=register)
        if secret:
            redact.add(resolved)
        return resolved
    if isinstance(value, dict):
        return {key: resolve(item, redact, public) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, redact, public) for item in value]
    return value


def is_secret(value: Any, public: frozenset[str] = frozenset()) -> bool:
    """Whether `value` refers to a variable (`${VAR}`) not named in `public`: a secret once
    resolved."""
    if isinstance(value, str):
        return any(name not in public for name in references(value))
    if isinstance(value, dict):
        return any(is_secret(item, public) for item in value.values())
    if isinstance(value, list | tuple):
        return any(is_secret(item, public) for item in value)
    return False


def origin(url: str) -> tuple[str, str, int | None]:
    """`(scheme, host, port)` of a URL, the default port spelled out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)
