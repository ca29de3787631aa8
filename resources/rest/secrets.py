"""Catalog templates resolved at run time: every `${VAR}` value is a secret the redactor knows,
and secrets go only to the origin (scheme, host, port) of the source's `base_url`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from platform_assets.config.env import interpolate, references
from resources.rest.errors import Redactor

_DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve(value: Any, redact: Redactor) -> Any:
    """`value` (a string, or dicts and lists of them) with every `${VAR}` resolved; each value
    substituted, and each string that held one, is given to `redact`."""
    if isinstance(value, str):
        if not references(value):
            return value
        resolved = interpolate(value, on_value=redact.add)
        redact.add(resolved)
        return resolved
    if isinstance(value, dict):
        return {key: resolve(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, redact) for item in value]
    return value


def is_template(value: Any) -> bool:
    """Whether `value` holds a `${VAR}` reference, i.e. is a secret once resolved."""
    if isinstance(value, str):
        return bool(references(value))
    if isinstance(value, dict):
        return any(is_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(is_template(item) for item in value)
    return False


def origin(url: str) -> tuple[str, str, int | None]:
    """`(scheme, host, port)` of a URL, the default port spelled out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)
