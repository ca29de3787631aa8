"""Safe SQL text for DuckDB: identifier quoting and literals (types widen in `type_lattice`)."""

from __future__ import annotations

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
