"""Incremental cursors: where a run starts (last cursor minus lookback), the cursor reached.

A cursor is a number, an ISO-8601 timestamp or other text. Timestamps are compared as instants
(`2024-05-01T10:00:00+02:00` is before `2024-05-01T09:00:00Z`) and the cursor reached is stored
in UTC, spelled `2024-05-01T08:00:00Z` (fractional seconds only when there are some); a
timestamp without an offset stays without one. That is also the form sent as `param` after the
first run (the first sends `initial_value` as written): ISO-8601 in UTC, which APIs that filter
by timestamp accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.config.rest import Incremental, parse_timestamp
from resources.rest.errors import RestError
from resources.rest.records import SEPARATOR


def column_name(cursor_field: str) -> str:
    """`a.b` in the catalog is the flattened column `a__b`."""
    return cursor_field.replace(".", SEPARATOR)


def _number(value: str) -> Decimal | None:
    """The number `value` spells, exactly (a float would tie 9007199254740993 with ...992)."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def start_value(config: Incremental, last: str | None) -> str | None:
    """The value to request from: the last cursor (else `initial_value`), minus `lookback`.
    Raises `RestError` when `lookback` is set and the cursor is neither a timestamp nor a
    number (the catalog refuses that already when `initial_value` shows it)."""
    value = last if last is not None else config.initial_value
    if value is None or last is None or config.lookback is None:
        return value
    shifted = shift(value, -config.lookback)
    if shifted is None:
        raise RestError(
            f"incremental.lookback needs a timestamp or numeric cursor, but cursor_field "
            f"{config.cursor_field!r} holds {value!r}"
        )
    return shifted


def shift(value: str, by: timedelta) -> str | None:
    """`value` moved by `by` (seconds, for a number); None when it is neither."""
    moment = parse_timestamp(value)
    if moment is not None:
        return _spelled(moment + by)
    number = _number(value)
    if number is None:
        return None
    result = number + Decimal(str(by.total_seconds()))
    if result == result.to_integral_value() and "." not in value:
        return str(int(result))
    return str(result)


def _spelled(moment: datetime) -> str:
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _key(value: str) -> tuple[int, Any]:
    number = _number(value)
    if number is not None:
        return (0, number)
    moment = parse_timestamp(value)
    if moment is not None:
        return (1, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return (2, value)


def later(a: str | None, b: str | None) -> str | None:
    """The later of two cursors: numbers by value, timestamps as instants, else as text."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=_key)


def require_cursor(rows: pa.Table, config: Incremental) -> None:
    """Raise `RestError` unless every row holds `cursor_field`: a cursor that is never found
    would store no state and request `initial_value` on every run."""
    if rows.num_rows == 0 or rows.num_columns == 0:
        return
    name = column_name(config.cursor_field)
    if name not in rows.column_names:
        raise RestError(f"incremental.cursor_field {config.cursor_field!r} is not in the records")
    missing = rows.column(name).null_count
    if missing:
        raise RestError(
            f"incremental.cursor_field {config.cursor_field!r} is missing (or null) in "
            f"{missing} of {rows.num_rows} records"
        )


def batch_maximum(table: pa.Table, cursor_field: str) -> str | None:
    """The largest cursor of `table` (timestamps as instants, stored in UTC), or None."""
    name = column_name(cursor_field)
    if name not in table.column_names or table.num_rows == 0:
        return None
    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        moments = _as_instants(column)
        if moments is not None:
            return _latest(moments)
    maximum = pc.max(column).as_py()
    if maximum is None:
        return None
    if isinstance(maximum, datetime):
        return _spelled(maximum)
    return str(maximum)


def _as_instants(column: pa.ChunkedArray) -> list[datetime] | None:
    """The column's values as timestamps, or None when one of them is not an ISO-8601 one."""
    moments: list[datetime] = []
    for value in pc.unique(column).to_pylist():
        if value is None:
            continue
        moment = parse_timestamp(value)
        if moment is None:
            return None
        moments.append(moment)
    return moments


def _latest(moments: Sequence[datetime]) -> str | None:
    if not moments:
        return None
    latest = max(moments, key=lambda m: m if m.tzinfo else m.replace(tzinfo=UTC))
    return _spelled(latest)


def before_end(records: pa.Table, config: Incremental) -> pa.Table:
    """Records whose cursor (`a.b` reaches into nested objects) is not past `end_value`,
    timestamps compared as instants."""
    if config.end_value is None or records.num_rows == 0:
        return records
    first, *rest = config.cursor_field.split(".")
    if first not in records.column_names:
        return records
    column: pa.ChunkedArray = records.column(first)
    for name in rest:
        column = pc.struct_field(column, name)
    end_moment = parse_timestamp(config.end_value)
    if end_moment is not None and pa.types.is_string(column.type):
        end_key = _key(config.end_value)
        keep = [None if value is None else _key(value) <= end_key for value in column.to_pylist()]
        return records.filter(pa.array(keep, pa.bool_()))
    end = pa.scalar(config.end_value).cast(column.type)
    return records.filter(pc.less_equal(column, end))
