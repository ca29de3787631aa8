"""JSONPath in the catalog: parsed once by jsonpath-ng, when the catalog loads."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from resources.jsonpath import compiled

__all__ = ["JsonPath", "compiled"]


def _json_path(value: str) -> str:
    compiled(value)
    return value


JsonPath = Annotated[str, AfterValidator(_json_path)]
"""A catalog field holding a JSONPath: one that does not parse is a catalog error."""
