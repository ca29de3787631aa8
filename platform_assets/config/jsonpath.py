"""JSONPath in the catalog: parsed once by jsonpath-ng, when the catalog loads."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse
from pydantic import AfterValidator


@cache
def compiled(path: str) -> JSONPath:
    try:
        return parse(path)
    except (JsonPathParserError, Exception) as error:
        raise ValueError(f"{path!r} is not a JSONPath: {error}") from None


def _json_path(value: str) -> str:
    compiled(value)
    return value


JsonPath = Annotated[str, AfterValidator(_json_path)]
"""A catalog field holding a JSONPath: one that does not parse is a catalog error."""
