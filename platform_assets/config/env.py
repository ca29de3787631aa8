"""`${VAR}` and `${VAR:-default}` interpolation of catalog strings."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

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


def interpolate(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every `${VAR}` / `${VAR:-default}` in `text` from `environ` (default: os.environ)."""
    references(text)
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise MissingVariableError(f"environment variable {name} is not set and has no default")

    return _REFERENCE.sub(substitute, text)
