"""Which DuckDB type each database column lands as, exactly, or why it cannot.

The scanners already give most columns their exact DuckDB type (numeric(12,2) is DECIMAL(12,2),
timestamptz TIMESTAMPTZ, uuid UUID, arrays LISTs, PostgreSQL enums ENUMs, MySQL tinyint(1)
BOOLEAN). What they give as text is cast back where the text is a value of another type (JSON,
MariaDB's uuid), and what they would make inexact (a numeric without precision read as DOUBLE,
a decimal wider than DuckDB's 38 digits) or unreadable (geometries, tsvector, money as locale
text) is refused, so that a load fails naming the column instead of landing a changed value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resources.duckdb_sql import literal, quote

_PRECISION = re.compile(r"\((\d+)(?:,\s*(\d+))?\)")
MAX_DECIMAL_DIGITS = 38


@dataclass(frozen=True)
class SourceColumn:
    """A column as the database declares it and as DuckDB's scanner reads it.

    PostgreSQL fills `declared` (`format_type`: `numeric(12,2)`, `timestamp(3) with time
    zone`), `typtype` (`b` base, `e` enum, `d` domain, `c` composite, `r` range) and, for an
    array, its element's declared type and typtype. MySQL/MariaDB fill `declared` with the
    COLUMN_TYPE (`tinyint(1)`, `decimal(12,2) unsigned`; `json` for MariaDB's JSON columns),
    SQLite with the declared type. A `query:` column has only `scanned`."""

    name: str
    declared: str = ""
    typtype: str = ""
    element: str = ""
    element_typtype: str = ""
    scanned: str = ""


_POSTGRES_EXACT = {
    "smallint",
    "integer",
    "bigint",
    "real",
    "double precision",
    "boolean",
    "text",
    "character varying",
    "character",
    '"char"',
    "name",
    "citext",
    "date",
    "time without time zone",
    "time with time zone",
    "timestamp without time zone",
    "timestamp with time zone",
    "interval",
    "uuid",
    "bytea",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "xml",
    "bit",
    "bit varying",
    "oid",
    "point",
}
"""PostgreSQL types (precision aside) the scanner reads exactly: as their DuckDB type, or as
their own text where DuckDB has none (inet, xml, bit strings)."""

_POSTGRES_JSON = {"json", "jsonb"}

_MYSQL_EXACT = {
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
    "float",
    "double",
    "double precision",
    "real",
    "year",
    "char",
    "varchar",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "enum",
    "set",
    "date",
    "time",
    "binary",
    "varbinary",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "bit",
    "bool",
    "boolean",
    "inet4",
    "inet6",
}


def _base(declared: str) -> str:
    """`numeric(12,2)` → `numeric`, `timestamp(3) with time zone` → `timestamp with time zone`,
    `int(10) unsigned` → `int`."""
    text = _PRECISION.sub("", declared.lower()).replace(" unsigned", "").replace(" zerofill", "")
    return " ".join(text.split())


def _decimal(column: SourceColumn, what: str) -> str:
    match = _PRECISION.search(column.declared)
    if match is None or match.group(1) is None:
        raise ValueError(
            f"type {column.declared} ({what} without precision) can hold any number, and "
            f"DuckDB's DECIMAL holds {MAX_DECIMAL_DIGITS} digits: cast it in a query: "
            "(e.g. CAST(x AS numeric(18,4)))"
        )
    precision = int(match.group(1))
    scale = int(match.group(2) or 0)
    if precision > MAX_DECIMAL_DIGITS:
        raise ValueError(
            f"type {column.declared} has more than the {MAX_DECIMAL_DIGITS} digits DuckDB's "
            "DECIMAL holds; cast it in a query: to a narrower type or to text"
        )
    return f"DECIMAL({precision},{scale})"


def _postgres(column: SourceColumn) -> str:
    name = quote(column.name)
    if column.typtype == "e":
        return name
    if column.element:
        element = SourceColumn(column.name, column.element, column.element_typtype)
        if _base(column.element) in _POSTGRES_JSON:
            return f"CAST({name} AS JSON[])"
        _postgres(element)  # refuses an element it cannot read exactly
        return name
    base = _base(column.declared)
    if base in _POSTGRES_JSON:
        return f"CAST({name} AS JSON)"
    if base == "numeric":
        _decimal(column, "numeric")  # the scanner reads numeric(p,s) as DECIMAL(p,s)
        return name
    if base in _POSTGRES_EXACT and column.typtype in ("b", "p", ""):
        return name
    what = {"d": "a domain", "c": "a composite type", "r": "a range", "m": "a multirange"}
    kind = what.get(column.typtype, "a type")
    raise ValueError(
        f"type {column.declared} ({kind}) has no exact DuckDB type; read it through a query: "
        "that casts it (e.g. to text or jsonb)"
    )


def _mysql(column: SourceColumn, zone: str | None) -> str:
    name = quote(column.name)
    # `enum('a','b')`, `int(10) unsigned`, `datetime(6)`: the first word names the type.
    base = column.declared.lower().split("(")[0].strip().split(" ")[0]
    if base == "json":
        return f"CAST({name} AS JSON)"
    if base in ("decimal", "numeric"):
        _decimal(column, "decimal")  # the scanner reads decimal(p,s) as DECIMAL(p,s)
        return name
    if base == "uuid":
        return f"CAST({name} AS UUID)"
    if base == "datetime":
        return f"timezone({literal(zone)}, {name})" if zone else name
    if base == "timestamp":
        # Read in UTC (the session's zone): MySQL stores a TIMESTAMP as an instant.
        return f"timezone('UTC', {name})"
    if base in _MYSQL_EXACT:
        return name
    raise ValueError(
        f"type {column.declared} has no exact DuckDB type; read it through a query: "
        "that casts it (e.g. ST_AsText for a geometry)"
    )


def _sqlite(column: SourceColumn) -> str:
    """SQLite's type affinity, from the declared type: INT integers, CHAR/CLOB/TEXT text,
    BLOB bytes, REAL/FLOA/DOUB floats; DECIMAL(p,s) as DECIMAL(p,s); BOOLEAN and JSON by
    name."""
    name = quote(column.name)
    declared = column.declared.lower()
    base = _base(declared)
    if base in ("boolean", "bool"):
        return f"CAST({name} AS BOOLEAN)"
    if base == "json":
        return f"CAST({name} AS JSON)"
    if base in ("decimal", "numeric") and _PRECISION.search(declared):
        return f"CAST({name} AS {_decimal(column, base)})"
    if base in ("date", "datetime", "timestamp") or any(
        word in declared for word in ("int", "char", "clob", "text", "blob", "real", "floa", "doub")
    ):
        return name
    if base in ("numeric", "decimal"):
        return name
    raise ValueError(
        f"declared type {column.declared or '(none)'} says nothing of its values' type; "
        "declare the column's type, or read it through a query: that casts it"
    )


def land_as(column: SourceColumn, dialect: str, source_timezone: str | None = None) -> str:
    """The DuckDB expression that lands `column` exactly, for a SELECT over the scanner.
    Raises ValueError saying why when no type holds its values exactly."""
    if not column.declared and not column.typtype:
        return _scanned_only(column)
    if dialect == "postgres":
        return _postgres(column)
    if dialect == "mysql":
        return _mysql(column, source_timezone)
    return _sqlite(column)


def _scanned_only(column: SourceColumn) -> str:
    """A `query:` column, known by the scanner's type alone: taken as it is."""
    return quote(column.name)
