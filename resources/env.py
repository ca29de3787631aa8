"""`${VAR}` and `${VAR:-default}` interpolation of strings (catalog fields, headers, params)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_MALFORMED = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


class MissingVariableError(ValueError):
    """A `${VAR}` reference names a variable that is not set and has no default."""


def references(text: str) -> list[str]:
    """Names of the variables `text` refers to; raises on a malformed `${...}`."""
    if _MALFORMED.search(text):
        raise ValueError(
            f"malformed variable reference in {text!r}: use ${{NAME}} or ${{NAME:-default}}"
        )
    return [m.group("name") for m in _REFERENCE.finditer(text)]


def interpolate(
    text: str,
    environ: Mapping[str, str] | None = None,
    on_value: Callable[[str, str], None] | None = None,
) -> str:
    """Replace every `${VAR}` / `${VAR:-default}` in `text` from `environ` (default: os.environ);
    `on_value(name, value)` is called for each substitution (to register it as a secret)."""
    references(text)
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            value = env[name]
        elif default is not None:
            value = default
        else:
            raise MissingVariableError(f"environment variable {name} is not set and has no default")
        if on_value is not None:
            on_value(name, value)
        return value

    return _REFERENCE.sub(substitute, text)


def check_references(value: Any) -> Any:
    """`value` unchanged, after checking the `${...}` syntax of every string in it (nested
    lists and dicts included); for fields resolved only at run time."""
    if isinstance(value, str):
        references(value)
    elif isinstance(value, dict):
        for item in value.values():
            check_references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_references(item)
    return value
