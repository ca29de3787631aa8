"""Rules tried by the engine that runs them, when the catalog loads.

The gate judges rows in DuckDB: regular expressions are RE2's, functions and types DuckDB's. A rule
that Python accepts but DuckDB refuses (`^(?!test)` is a Perl look-ahead RE2 lacks; `nvl` is not a
DuckDB function; `min: 0` on a VARCHAR column) would fail every run. So each rule is bound here, on
an empty relation of a scratch connection, exactly as the gate will run it: DuckDB's error becomes
the catalog's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import duckdb
import narwhals.stable.v1 as nw

from checks.evaluate import is_builtin
from checks.rules import value_checks
from resources.duckdb_client import scratch_connection
from resources.duckdb_sql import quote

if TYPE_CHECKING:  # the catalog's model, read for its fields: the catalog imports this layer
    from platform_assets.config.checks import ColumnChecks

_TYPE_FREE_ERRORS = (duckdb.CatalogException, duckdb.ParserException, duckdb.InvalidInputException)
"""Errors DuckDB raises whatever the columns' types: an unknown function, SQL it cannot parse, a
constant it refuses (a regular expression RE2 cannot compile)."""


def _reason(error: duckdb.Error) -> str:
    return str(error).splitlines()[0]


def _empty_relation(con: duckdb.DuckDBPyConnection, types: Mapping[str, str | None]) -> str:
    """A relation with no rows and one column per name, of its type (NULL's type when unknown)."""
    columns = ", ".join(
        f"CAST(NULL AS {dtype}) AS {quote(name)}" if dtype else f"NULL AS {quote(name)}"
        for name, dtype in types.items()
    )
    return f"(SELECT {columns or 'NULL AS __none'} WHERE false)"


def bind_column_rules(column: str, spec: ColumnChecks, dtype: str | None) -> None:
    """Run `spec`'s value rules (min, max, isin, regex, str_length) as the gate does, on no rows
    of a `dtype` column (VARCHAR for the text rules when no type is known). Raises ValueError
    naming the rule and DuckDB's reason when DuckDB refuses one."""
    # The answer depends on the rules and the type, not the column's name: a catalog's repeated
    # rules are bound once.
    key = (spec.model_dump_json(by_alias=True), dtype)
    if key not in _REFUSED:
        try:
            _bind_column_rules("value", spec, dtype)
        except ValueError as error:
            _REFUSED[key] = str(error)
        else:
            _REFUSED[key] = None
    if (refused := _REFUSED[key]) is not None:
        raise ValueError(refused)


_REFUSED: dict[tuple[str, str | None], str | None] = {}
"""Rules and type -> DuckDB's refusal (None: bound), for this process."""


def _bind_column_rules(column: str, spec: ColumnChecks, dtype: str | None) -> None:
    con = scratch_connection()
    for check in value_checks(column, spec, []):
        if not is_builtin(check):
            continue
        rule = check.name.removeprefix(f"{column}_") if check.name else "rule"
        text_rule = rule in ("regex", "str_length")
        column_type = dtype or ("VARCHAR" if text_rule else None)
        if column_type is None:
            continue
        frame = nw.from_native(
            con.sql(f"SELECT * FROM {_empty_relation(con, {column: column_type})}")
        ).lazy()
        try:
            passes = check(frame, column).check_output
            con.execute(frame.select(passes.alias("passes")).to_native().sql_query()).fetchall()
        except duckdb.Error as error:
            raise ValueError(
                f"{rule}: DuckDB, which runs the rule, refuses it on a column of type "
                f"{column_type}: {_reason(error)}"
            ) from None


def bind_condition(sql: str, types: Mapping[str, str | None]) -> None:
    """Bind the row condition `sql` (as the gate runs it) in DuckDB over columns of `types`
    (None: unknown). Raises ValueError with DuckDB's reason for an unknown function, SQL it
    cannot parse or a constant it refuses; type errors only when every column's type is known."""
    # The answer depends on the condition and the columns' types only: a catalog's repeated
    # conditions are bound once.
    key = (sql, tuple(sorted(types.items())))
    if key not in _CONDITIONS_REFUSED:
        _CONDITIONS_REFUSED[key] = _condition_refusal(sql, types)
    if (refused := _CONDITIONS_REFUSED[key]) is not None:
        raise ValueError(refused)


_CONDITIONS_REFUSED: dict[tuple[str, tuple[tuple[str, str | None], ...]], str | None] = {}
"""Condition and column types -> DuckDB's refusal (None: bound), for this process."""


def _condition_refusal(sql: str, types: Mapping[str, str | None]) -> str | None:
    con = scratch_connection()
    try:
        con.execute(f"SELECT coalesce(({sql}), true) FROM {_empty_relation(con, types)}").fetchall()
    except _TYPE_FREE_ERRORS as error:
        return f"DuckDB, which runs the rule, refuses it: {_reason(error)}"
    except duckdb.Error as error:
        if all(types.values()):
            return f"DuckDB, which runs the rule, refuses it: {_reason(error)}"
    return None
