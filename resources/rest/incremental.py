"""Incremental cursors: where a run starts (last cursor minus lookback), the cursor reached."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.config.rest import Incremental
from resources.rest.records import SEPARATOR


def column_name(cursor_field: str) -> str:
    """`a.b` in the catalog is the flattened column `a__b`."""
    return cursor_field.replace(".", SEPARATOR)


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def start_value(config: Incremental, last: str | None) -> str | None:
    """The value to request from: the last cursor (else `initial_value`), minus `lookback`."""
    value = last if last is not None else config.initial_value
    if value is None or last is None or config.lookback is None:
        return value
    return shift(value, -config.lookback)


def shift(value: str, by: timedelta) -> str:
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


def _key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def later(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=_key)


def batch_maximum(table: pa.Table, cursor_field: str) -> str | None:
    name = column_name(cursor_field)
    if name not in table.column_names or table.num_rows == 0:
        return None
    maximum = pc.max(table.column(name)).as_py()
    return None if maximum is None else str(maximum)


def before_end(records: pa.Table, config: Incremental) -> pa.Table:
    """Records whose cursor (`a.b` reaches into nested objects) is not past `end_value`."""
    if config.end_value is None or records.num_rows == 0:
        return records
    first, *rest = config.cursor_field.split(".")
    if first not in records.column_names:
        return records
    column: pa.ChunkedArray = records.column(first)
    for name in rest:
        column = pc.struct_field(column, name)
    end = pa.scalar(config.end_value).cast(column.type)
    return records.filter(pc.less_equal(column, end))
