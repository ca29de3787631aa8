"""The type lattice: the narrowest DuckDB type that holds every value of two types exactly.

Every path that merges column types (a batch into a stored table, staged parts of one batch, files
of one glob) asks `join`. Its answer holds each value of both types exactly: cast to it and back,
a value reads the same. Where no type does by type alone, `join` says VARCHAR, which holds every
value as its text; `value_join` then names the narrower type that holds both *if* the values at
hand survive the cast (`survives_sql` tests that), e.g. BIGINT join DOUBLE is DOUBLE when every
integer lies within ±2^53. The lattice's bottom is the NULL type: a column seen only as nulls
carries no evidence of a type, so it joins to whatever the other side is.

Types are DuckDB's type strings (as `DESCRIBE` spells them); the table in docs/catalog.md lists
the joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import duckdb
from duckdb.sqltypes import DuckDBPyType

VARCHAR = "VARCHAR"
NULL = '"NULL"'
MAX_DECIMAL_WIDTH = 38

_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "TINYINT": (-(2**7), 2**7 - 1),
    "UTINYINT": (0, 2**8 - 1),
    "SMALLINT": (-(2**15), 2**15 - 1),
    "USMALLINT": (0, 2**16 - 1),
    "INTEGER": (-(2**31), 2**31 - 1),
    "UINTEGER": (0, 2**32 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
    "UBIGINT": (0, 2**64 - 1),
    "HUGEINT": (-(2**127), 2**127 - 1),
    "UHUGEINT": (0, 2**128 - 1),
}
"""Integer types, narrowest first, with the values each holds."""
INTEGER_TYPES = frozenset(_INTEGER_RANGES)

_FLOAT_MANTISSA = {"FLOAT": 24, "DOUBLE": 53}
"""Bits of a float type's significand: integers up to 2^bits fit it exactly."""
_FLOAT_DIGITS = {"FLOAT": 6, "DOUBLE": 15}
"""Decimal digits a float type round-trips (FLT_DIG, DBL_DIG): a decimal of that many significant
digits or fewer reads back the same from the float's shortest rendering."""

_TIMESTAMPS = ("TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP")
"""Naive timestamps by precision, coarsest first; each holds the coarser ones' values."""
_NANOSECONDS = "TIMESTAMP_NS"
"""Finer than TIMESTAMP, but only for the years 1677-2262: joined by value only."""
_NANOSECOND_YEARS = ("1677-09-22", "2262-04-11")
"""Whole days within TIMESTAMP_NS's range."""


@dataclass(frozen=True)
class _Type:
    id: str
    text: str
    children: tuple[tuple[str, _Type], ...] = ()
    precision: int = 0
    scale: int = 0


@lru_cache(maxsize=1024)
def _parse(type_text: str) -> _Type:
    """DuckDB's own parse of a type string: nested and aliased types read as DuckDB reads them."""
    parsed = duckdb.sqltype(type_text)
    return _from_duckdb(parsed)


def _from_duckdb(parsed: DuckDBPyType) -> _Type:
    kind, text = str(parsed.id), str(parsed)
    if kind == "decimal":
        fields: dict[str, Any] = dict(parsed.children)
        return _Type(kind, text, precision=int(fields["precision"]), scale=int(fields["scale"]))
    if kind in ("list", "struct"):
        nested: list[tuple[str, Any]] = list(parsed.children)
        return _Type(kind, text, tuple((str(n), _from_duckdb(t)) for n, t in nested))
    return _Type(kind, text)


def canonical(type_text: str) -> str:
    """`type_text` as DuckDB spells it (`INT` → `INTEGER`, `TIMESTAMPTZ` → `TIMESTAMP WITH TIME
    ZONE`)."""
    return _parse(type_text).text


def is_null_type(type_text: str) -> bool:
    """True for DuckDB's NULL type: a column of nulls only, the lattice's bottom."""
    return type_text.strip('"').upper() == "NULL"


def join(a: str, b: str) -> str:
    """The narrowest type that holds every value of `a` and of `b` exactly, by type alone.

    VARCHAR when no other type does (its values are the others' text, which casts back exactly).
    Raises duckdb.Error for a string DuckDB does not read as a type.
    """
    if is_null_type(a):
        return canonical(b) if not is_null_type(b) else NULL
    if is_null_type(b):
        return canonical(a)
    return canonical(_join(_parse(a), _parse(b)))


def value_join(a: str, b: str) -> str | None:
    """A type narrower than `join(a, b)` (which is then VARCHAR) that holds both types' values
    when the values themselves survive the cast (see `survives_sql`), or None.

    BIGINT join DOUBLE is DOUBLE while every integer lies within ±2^53; DATE join TIMESTAMP is
    TIMESTAMP for dates within TIMESTAMP's years; a DECIMAL wider than 15 digits join DOUBLE is
    DOUBLE for values the double renders back the same.
    """
    if is_null_type(a) or is_null_type(b) or join(a, b) != VARCHAR:
        return None
    ta, tb = _parse(a), _parse(b)
    kinds = {_numeric_kind(ta), _numeric_kind(tb)}
    if None not in kinds:
        if "float" in kinds:
            return "DOUBLE"
        if kinds == {"integer"}:
            return "HUGEINT"
        scale = max(ta.scale, tb.scale)
        return f"DECIMAL({MAX_DECIMAL_WIDTH},{scale})"
    texts = {ta.text, tb.text}
    if texts <= {"DATE", *_TIMESTAMPS, _NANOSECONDS} and texts & {*_TIMESTAMPS, _NANOSECONDS}:
        if _NANOSECONDS in texts:
            return _NANOSECONDS
        return max(texts - {"DATE"}, key=_TIMESTAMPS.index)
    return None


def survives_sql(value: str, source: str, target: str) -> str:
    """SQL that is true where `value` (SQL of type `source`) casts to `target` and back unchanged.

    A value that only survives to a float as a different number fails (via the float's text:
    0.10000000000000001 becomes the double 0.1 and would cast back to itself at scale 17).
    """
    there = f"TRY_CAST({value} AS {target})"
    if _parse(target).id in ("float", "double"):
        there = f"TRY_CAST({there} AS VARCHAR)"
    family = {*_TIMESTAMPS, _NANOSECONDS}
    if canonical(source) in family and canonical(target) in family:
        there = f"TRY_CAST({there} AS TIMESTAMP)"  # DuckDB casts between them only via this one
    same = f"TRY_CAST({there} AS {source}) IS NOT DISTINCT FROM {value}"
    if canonical(target) == _NANOSECONDS and canonical(source) != _NANOSECONDS:
        # TRY_CAST raises instead of yielding NULL outside TIMESTAMP_NS's years.
        low, high = _NANOSECOND_YEARS
        same = (
            f"CASE WHEN {value}::TIMESTAMP BETWEEN '{low}' AND '{high}' THEN {same} ELSE false END"
        )
    return f"({value} IS NULL OR {same})"


def integer_type_for(low: int, high: int) -> str | None:
    """The narrowest integer type that holds every integer from `low` to `high`, or None."""
    return next(
        (name for name, (lo, hi) in _INTEGER_RANGES.items() if lo <= low and high <= hi), None
    )


def _numeric_kind(t: _Type) -> str | None:
    if t.text in _INTEGER_RANGES:
        return "integer"
    if t.id == "decimal":
        return "decimal"
    if t.text in _FLOAT_MANTISSA:
        return "float"
    return None


def _integer_digits(t: _Type) -> int:
    """Decimal digits left of the point that every value of integer or decimal `t` needs."""
    if t.id == "decimal":
        return t.precision - t.scale
    low, high = _INTEGER_RANGES[t.text]
    return max(len(str(abs(low))), len(str(high)))


def _join(a: _Type, b: _Type) -> str:
    if a.text == b.text:
        return a.text
    joined = _join_numbers(a, b) or _join_times(a, b) or _join_nested(a, b)
    return joined or VARCHAR


def _join_numbers(a: _Type, b: _Type) -> str | None:
    kinds = _numeric_kind(a), _numeric_kind(b)
    if None in kinds:
        return None
    if kinds == ("integer", "integer"):
        (alo, ahi), (blo, bhi) = _INTEGER_RANGES[a.text], _INTEGER_RANGES[b.text]
        return integer_type_for(min(alo, blo), max(ahi, bhi))
    if "float" in kinds:
        floating, other = (a, b) if kinds[0] == "float" else (b, a)
        if _numeric_kind(other) == "float":
            return "DOUBLE"  # FLOAT join DOUBLE: every float is a double
        for candidate in ("FLOAT", "DOUBLE"):
            if _FLOAT_MANTISSA[candidate] < _FLOAT_MANTISSA[floating.text]:
                continue
            if other.id == "decimal" and other.precision <= _FLOAT_DIGITS[candidate]:
                return candidate
            if other.text in _INTEGER_RANGES:
                low, high = _INTEGER_RANGES[other.text]
                if max(-low, high) <= 2 ** _FLOAT_MANTISSA[candidate]:
                    return candidate
        return None
    scale = max(a.scale, b.scale)
    width = max(_integer_digits(a), _integer_digits(b)) + scale
    return f"DECIMAL({width},{scale})" if width <= MAX_DECIMAL_WIDTH else None


def _join_times(a: _Type, b: _Type) -> str | None:
    texts = {a.text, b.text}
    if texts <= set(_TIMESTAMPS):
        return max(texts, key=_TIMESTAMPS.index)
    return None


def _join_nested(a: _Type, b: _Type) -> str | None:
    if a.id == b.id == "list":
        return f"{_join(a.children[0][1], b.children[0][1])}[]"
    if a.id == b.id == "struct":
        left, right = dict(a.children), dict(b.children)
        fields = []
        for name, kind in left.items():
            other = next((t for n, t in right.items() if n.lower() == name.lower()), None)
            fields.append((name, kind.text if other is None else _join(kind, other)))
        known = {n.lower() for n in left}
        fields.extend((n, t.text) for n, t in right.items() if n.lower() not in known)
        return "STRUCT(" + ", ".join(f"{_quote(n)} {t}" for n, t in fields) + ")"
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
