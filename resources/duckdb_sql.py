"""Safe SQL text for DuckDB: identifier quoting and column-type widening."""

from __future__ import annotations

import re
from collections.abc import Iterable


def quote(identifier: str) -> str:
    """Quote an identifier so that any text, quotes and semicolons included, stays one name."""
    if "\x00" in identifier:
        raise ValueError(f"identifier {identifier!r} contains a NUL character")
    return '"' + identifier.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def column_list(names: Iterable[str]) -> str:
    return ", ".join(quote(n) for n in names)


def literal(text: str) -> str:
    """A SQL string literal (for places DuckDB takes no parameters, such as ATTACH)."""
    return "'" + text.replace("'", "''") + "'"


_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER")
_DECIMAL = re.compile(r"^DECIMAL\((\d+),(\d+)\)$")


def _rank(column_type: str) -> int | None:
    """Position on the widening ladder integer → bigint → double → decimal → varchar."""
    if column_type in _INTEGERS:
        return 0
    if column_type in ("BIGINT", "UBIGINT", "HUGEINT"):
        return 1
    if column_type in ("FLOAT", "DOUBLE"):
        return 2
    if _DECIMAL.match(column_type):
        return 3
    if column_type == "VARCHAR":
        return 4
    return None


def widen(current: str, incoming: str) -> str:
    """The narrowest type that holds values of both `current` and `incoming`.

    Numbers climb the ladder integer → bigint → double → decimal → varchar; DATE and TIMESTAMP meet
    at TIMESTAMP; anything else that differs becomes VARCHAR, which holds every value as text.
    """
    if current == incoming:
        return current
    if {current, incoming} <= {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    ranks = _rank(current), _rank(incoming)
    if None in ranks:
        return "VARCHAR"
    higher = current if ranks[0] >= ranks[1] else incoming  # type: ignore[operator]
    if higher == "FLOAT":
        return "DOUBLE"
    if higher in _INTEGERS:
        return "INTEGER" if "UINTEGER" not in (current, incoming) else "BIGINT"
    if (a := _DECIMAL.match(current)) and (b := _DECIMAL.match(incoming)):
        scale = max(int(a[2]), int(b[2]))
        digits = max(int(a[1]) - int(a[2]), int(b[1]) - int(b[2])) + scale
        return f"DECIMAL({min(digits, 38)},{scale})"
    return higher
