"""Incremental cursors, whatever the kind: where a run starts, and the later of two positions.

A cursor is stored as a string (`_tributary.state.cursor_value`). Strings that read as ISO-8601
times compare and shift as times, numbers as numbers, anything else as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def shift(value: str, by: timedelta) -> str:
    """`value` moved by `by`: a time by that span, a number by its seconds, text not at all."""
    moment = _parse_time(value)
    if moment is not None:
        shifted = (moment + by).isoformat()
        if value.endswith("Z"):
            shifted = shifted.replace("+00:00", "Z")
        return shifted
    try:
        number = float(value)
    except ValueError:
        return value
    result = number + by.total_seconds()
    return str(int(result)) if result.is_integer() and "." not in value else str(result)


def start_from(last: str | None, initial: str | None, lookback: timedelta | None) -> str | None:
    """Where a run starts: `last` minus `lookback`, or `initial` when nothing was loaded yet."""
    if last is None:
        return initial
    return shift(last, -lookback) if lookback is not None else last


def _key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def later(a: str | None, b: str | None) -> str | None:
    """The later of two cursors (numbers compare as numbers); None when both are None."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=_key)


def column_maximum(table: pa.Table, column: str) -> str | None:
    """The largest non-null value of `column` as a cursor string (times in ISO-8601), or None
    when the batch has no rows or only nulls; raises KeyError when there is no such column."""
    if column not in table.column_names:
        raise KeyError(column)
    if table.num_rows == 0:
        return None
    scalar = pc.max(table.column(column))
    if not scalar.is_valid:
        return None
    if isinstance(scalar, pa.TimestampScalar):
        return _timestamp(scalar).isoformat()
    return str(scalar.as_py())


def _timestamp(scalar: pa.TimestampScalar) -> datetime:
    """The scalar as a datetime, computed here: pyarrow's own `as_py` may look for pandas."""
    unit, zone = scalar.type.unit, scalar.type.tz
    ticks = int(scalar.cast(pa.int64()).as_py())
    micros = {"s": ticks * 1_000_000, "ms": ticks * 1000, "us": ticks, "ns": ticks // 1000}[unit]
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    if zone is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(ZoneInfo(zone)) if zone not in ("UTC", "utc", "Z") else moment
