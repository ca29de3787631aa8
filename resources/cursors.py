"""Incremental cursors, whatever the kind: how cursors compare, where a run starts, the cursor a
batch reaches.

A cursor is stored as text (`_tributary.state.cursor_value`): a number, an ISO-8601 timestamp or
other text. Numbers compare by value, exactly (a float would tie 9007199254740993 with ...992);
timestamps compare as instants (`2024-05-01T10:00:00+02:00` is before `2024-05-01T09:00:00Z`);
other text compares as text. A timestamp cursor is stored in UTC, spelled `2024-05-01T08:00:00Z`
(fractional seconds only when there are some); one without an offset stays without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # Arrow loads with the first column whose maximum is asked for
    import pyarrow as pa


def parse_timestamp(value: str) -> datetime | None:
    """An ISO-8601 date or date-time (`2024-05-01T10:00:00+02:00`, `...Z`, no offset), else
    None."""
    if len(value) < 10 or not value[:4].isdigit() or value[4] != "-":
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def bare_number(value: str) -> bool:
    """Whether `value` is a finite number as SQL writes one, without surrounding spaces: safe to
    put in a statement unquoted."""
    return value == value.strip() and parse_number(value) is not None


def parse_number(value: str) -> Decimal | None:
    """The number `value` spells, exactly, or None."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def can_shift(value: str) -> bool:
    """Whether a lookback can be subtracted from `value`: a timestamp or a number."""
    return parse_timestamp(value) is not None or parse_number(value) is not None


def shift(value: str, by: timedelta) -> str | None:
    """`value` moved by `by` (a timestamp by that span, a number by its seconds); None when it
    is neither."""
    moment = parse_timestamp(value)
    if moment is not None:
        return spelled(moment + by)
    number = parse_number(value)
    if number is None:
        return None
    result = number + Decimal(str(by.total_seconds()))
    if result == result.to_integral_value() and "." not in value:
        return str(int(result))
    return str(result)


def spelled(moment: datetime) -> str:
    """A timestamp as a cursor: in UTC with a `Z`, or as it is when it has no offset."""
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def start_from(last: str | None, initial: str | None, lookback: timedelta | None) -> str | None:
    """Where a run starts: `last` minus `lookback`, or `initial` when nothing was loaded yet.
    Raises ValueError when a lookback is set and `last` is neither a timestamp nor a number."""
    if last is None:
        return initial
    if lookback is None:
        return last
    shifted = shift(last, -lookback)
    if shifted is None:
        raise ValueError(f"a lookback needs a timestamp or numeric cursor, not {last!r}")
    return shifted


def order_key(value: str) -> tuple[int, Any]:
    """A key that orders cursors: numbers by value, timestamps as instants, else as text."""
    number = parse_number(value)
    if number is not None:
        return (0, number)
    moment = parse_timestamp(value)
    if moment is not None:
        return (1, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return (2, value)


def later(a: str | None, b: str | None) -> str | None:
    """The later of two cursors (see `order_key`); None when both are None."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=order_key)


def column_maximum(column: pa.ChunkedArray | pa.Array) -> str | None:
    """The latest non-null value of a batch column as a cursor (timestamps as instants, in UTC;
    text that reads as ISO-8601 timestamps likewise), or None when it holds none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(column) == 0:
        return None
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        texts = [v for v in pc.unique(column).to_pylist() if v is not None]
        moments = [parse_timestamp(v) for v in texts]
        if texts and all(m is not None for m in moments):
            return _latest(m for m in moments if m is not None)
    scalar = pc.max(column)
    if not scalar.is_valid:
        return None
    if isinstance(scalar, pa.TimestampScalar):
        return spelled(_timestamp(scalar))
    value = scalar.as_py()
    return spelled(value) if isinstance(value, datetime) else str(value)


def _latest(moments: Iterable[datetime]) -> str | None:
    found = list(moments)
    if not found:
        return None
    return spelled(max(found, key=lambda m: m if m.tzinfo else m.replace(tzinfo=UTC)))


def _timestamp(scalar: pa.TimestampScalar) -> datetime:
    """The scalar as a datetime, computed here: pyarrow's own `as_py` may look for pandas."""
    import pyarrow as pa

    unit, zone = scalar.type.unit, scalar.type.tz
    ticks = int(scalar.cast(pa.int64()).as_py())
    micros = {"s": ticks * 1_000_000, "ms": ticks * 1000, "us": ticks, "ns": ticks // 1000}[unit]
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    if zone is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(ZoneInfo(zone)) if zone not in ("UTC", "utc", "Z") else moment
