"""JSON numbers into Arrow without changing them.

Python's `json` turns `0.1234567890123456789` into the nearest double and pyarrow refuses
integers beyond 64 bits. Here a JSON document is parsed so that every number keeps its value
(a float only where the double *is* the written number, a `Decimal` otherwise, integers as
Python ints), and turned into Arrow with one rule per column:

- integers: `int64`, else `uint64` (all non-negative, below 2**64), else `decimal128(38, 0)`;
- numbers with a fraction or exponent: `float64` when every one of them (and every integer of
  the column) is exactly a double, else `decimal128(p, s)` wide enough for all of them;
- a number that no type holds exactly (more than 38 digits) raises `InexactNumberError`
  naming the field and the value. Floats are never chosen for integers they cannot hold.

Columns whose values mix kinds (numbers and text, objects and lists...) are kept as JSON text,
numbers written as they were read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

MAX_DIGITS = 38
"""The widest exact decimal DuckDB (and Arrow's decimal128) holds."""

_DOUBLE_EXACT = 2**53


class InexactNumberError(ValueError):
    """A JSON number that no column type holds exactly; the text names the field and value."""


class _MixedKinds(Exception):
    """The values of a column are of different kinds: the column is kept as JSON text."""


def _number(text: str) -> float | Decimal:
    # A JSON float without exponent and under 17 characters has at most 15 significant digits,
    # which a double always holds exactly (DBL_DIG), and cannot overflow: skip the checks.
    if len(text) < 17 and "e" not in text and "E" not in text:
        return float(text)
    value = float(text)
    if repr(value) == text or (math.isfinite(value) and Decimal(repr(value)) == Decimal(text)):
        return value
    return Decimal(text)


def loads(content: str | bytes) -> Any:
    """The JSON document with every number exact: floats where the double equals the written
    number (`0.5`, `1e3`), `Decimal` where it does not (`0.1234567890123456789`, `1e400`)."""
    return json.loads(content, parse_float=_number)


def dumps(value: Any) -> str:
    """`value` as JSON text, `Decimal` numbers written out exactly (not as strings)."""
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value, default=str)


def table_from_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (objects) as an Arrow table, every number exact. Raises `InexactNumberError`."""
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    else:
        if not _has_wide_decimal(table.schema):
            return table
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pa.table({name: column(name, [row.get(name) for row in rows]) for name in names})


def table_from_columns(columns: dict[str, Any]) -> pa.Table:
    """An object of equal-length arrays as an Arrow table, every number exact."""
    try:
        table = pa.Table.from_pydict(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    else:
        if not _has_wide_decimal(table.schema):
            return table
    arrays = {}
    for name, values in columns.items():
        if not isinstance(values, list):
            raise ValueError(f"records_layout: columns needs arrays; {name!r} is not one")
        arrays[name] = column(name, values)
    return pa.table(arrays)


def column(name: str, values: Sequence[Any]) -> pa.Array:
    """One column: typed by the rule above, or JSON text when its values mix kinds."""
    try:
        kind = arrow_type(values, name)
    except _MixedKinds:
        return pa.array([None if v is None else dumps(v) for v in values], pa.string())
    return typed(values, kind)


def typed(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """`values` (Python, as JSON gives them or Arrow's `to_pylist` returns them) as an array of
    `kind`, a type `arrow_type` chose for them: doubles become decimals by their shortest
    spelling, the number they were read from."""
    return pa.array([_conform(v, kind) for v in values], kind)


def arrow_type(values: Sequence[Any], field: str) -> pa.DataType:
    """The Arrow type that holds every value exactly; `field` (`a.b` inside objects) names
    the field in errors."""
    present = [v for v in values if v is not None]
    if not present:
        return pa.null()
    kinds = {_kind(v) for v in present}
    if kinds <= {"int", "float", "decimal"}:
        return _number_type(present, field)
    if len(kinds) > 1:
        raise _MixedKinds
    kind = kinds.pop()
    if kind == "bool":
        return pa.bool_()
    if kind == "str":
        return pa.string()
    if kind == "list":
        return pa.list_(arrow_type([item for v in present for item in v], f"{field}[]"))
    names = list(dict.fromkeys(k for v in present for k in v))
    return pa.struct(
        [pa.field(k, arrow_type([v.get(k) for v in present], f"{field}.{k}")) for k in names]
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    raise _MixedKinds


def _number_type(values: list[Any], field: str) -> pa.DataType:
    ints = [v for v in values if isinstance(v, int)]
    if len(ints) == len(values):
        low, high = min(ints), max(ints)
        if low >= -(2**63) and high < 2**63:
            return pa.int64()
        if low >= 0 and high < 2**64:
            return pa.uint64()
        widest = max(ints, key=lambda v: len(str(abs(v))))
        if len(str(abs(widest))) > MAX_DIGITS:
            raise _inexact(field, widest)
        return pa.decimal128(MAX_DIGITS, 0)
    decimals = any(isinstance(v, Decimal) for v in values)
    if not decimals and all(-_DOUBLE_EXACT <= v <= _DOUBLE_EXACT for v in ints):
        return pa.float64()
    whole = scale = 0
    widest_whole = widest_scale = values[0]
    for value in values:
        digits, exponent = _digits(value, field)
        value_whole, value_scale = max(digits + exponent, 1), max(-exponent, 0)
        if value_whole > whole:
            whole, widest_whole = value_whole, value
        if value_scale > scale:
            scale, widest_scale = value_scale, value
    if whole + scale > MAX_DIGITS:
        if widest_whole is widest_scale or whole > MAX_DIGITS or scale > MAX_DIGITS:
            raise _inexact(field, widest_whole if whole >= scale else widest_scale)
        raise InexactNumberError(
            f"field {field!r}: no exact type holds both {_shown(widest_whole)} and "
            f"{_shown(widest_scale)} (that needs {whole + scale} digits, DECIMAL holds "
            f"{MAX_DIGITS})"
        )
    return pa.decimal128(whole + scale, scale)


def _digits(value: int | float | Decimal, field: str) -> tuple[int, int]:
    """(number of significant digits, exponent) of the value as written."""
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not number.is_finite():
        raise InexactNumberError(
            f"field {field!r}: {value} cannot be held by the DECIMAL its other values need"
        )
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    return len(digits), exponent


def _shown(value: Any) -> str:
    return str(value) if not isinstance(value, float) else repr(value)


def _inexact(field: str, value: Any) -> InexactNumberError:
    return InexactNumberError(
        f"field {field!r}: no exact type holds the number {_shown(value)} "
        f"(the widest, DECIMAL(38), holds {MAX_DIGITS} digits)"
    )


def _conform(value: Any, kind: pa.DataType) -> Any:
    """`value` in the shape pyarrow converts to `kind` without rounding."""
    if value is None:
        return None
    if pa.types.is_decimal(kind) and isinstance(value, float):
        return Decimal(repr(value))
    if pa.types.is_struct(kind):
        return {
            kind.field(i).name: _conform(value.get(kind.field(i).name), kind.field(i).type)
            for i in range(kind.num_fields)
        }
    if pa.types.is_list(kind):
        return [_conform(item, kind.value_type) for item in value]
    return value


def _has_wide_decimal(schema: pa.Schema) -> bool:
    def wide(kind: pa.DataType) -> bool:
        if pa.types.is_decimal(kind):
            return bool(
                kind.precision > MAX_DIGITS or kind.scale < 0 or pa.types.is_decimal256(kind)
            )
        if pa.types.is_struct(kind):
            return any(wide(kind.field(i).type) for i in range(kind.num_fields))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return wide(kind.value_type)
        return False

    return any(wide(f.type) for f in schema)
