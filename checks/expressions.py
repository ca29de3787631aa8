"""Row-level SQL rules (`expressions:`): parsed when the catalog loads, run by DuckDB."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError


@dataclass(frozen=True)
class RowCondition:
    """A parsed condition: `sql` is regenerated from the parse tree, so it is exactly one
    expression however the catalog wrote it."""

    sql: str
    columns: frozenset[str]


@cache  # catalogs repeat their rules; a parse is pure
def parse_condition(text: str) -> RowCondition:
    """Parse a DuckDB SQL condition on one row. Raises ValueError when `text` does not parse, is
    several statements, is not a per-row condition (a subquery, an aggregate, a window), or
    holds what sqlglot could only write for DuckDB by changing it (`to_char(d, 'YYYY')` would
    lose its format): DuckDB runs the regenerated text, which must mean what the catalog says.
    Whether DuckDB can run it is `checks.engine.bind_condition`'s question."""
    try:
        statements = sqlglot.parse(text, dialect="duckdb")
    except sqlglot.errors.ParseError as error:
        raise ValueError(f"{text!r} is not valid SQL: {error}") from None
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"{text!r} must be one condition, not several statements")
    parsed = statements[0]
    if isinstance(parsed, exp.Query) or parsed.find(exp.Query, exp.AggFunc, exp.Window):
        raise ValueError(f"{text!r} must be a condition on one row, not a query or an aggregate")
    columns = frozenset(_root(column) for column in parsed.find_all(exp.Column))
    try:
        sql = parsed.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise ValueError(f"{text!r} is not DuckDB SQL: {error}") from None
    return RowCondition(sql, columns)


def _root(column: exp.Column) -> str:
    """The batch column a reference reads: `shipping.method` is field `method` of `shipping`."""
    return column.parts[0].name
