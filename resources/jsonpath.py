"""JSONPath expressions, parsed once (jsonpath-ng) and cached by their text."""

from __future__ import annotations

from functools import cache

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse


@cache
def compiled(path: str) -> JSONPath:
    """The parsed `path`; raises ValueError naming it when it is not a JSONPath."""
    try:
        return parse(path)
    except (JsonPathParserError, Exception) as error:
        raise ValueError(f"{path!r} is not a JSONPath: {error}") from None
