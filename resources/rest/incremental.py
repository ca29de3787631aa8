"""REST incremental loading: the request's start (the last cursor minus lookback), the cursor a
page reaches, records past `end_value`. How cursors compare and are spelled (timestamps as
instants, stored in UTC as `2024-05-01T08:00:00Z`) is `resources.cursors`'; after the first run
(which sends `initial_value` as written) that UTC form is what `param` sends, ISO-8601 that APIs
filtering by timestamp accept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from resources.cursors import column_maximum, order_key, parse_timestamp, start_from
from resources.rest.errors import RestError
from resources.rest.records import SEPARATOR


class Incremental(Protocol):
    """What incremental loading reads of a table's settings (the catalog's `incremental` fits):
    `cursor_field` (`a.b` reaches into nested objects), `initial_value` and `end_value` as the
    API spells them, `lookback` subtracted from the last cursor."""

    @property
    def cursor_field(self) -> str: ...
    @property
    def initial_value(self) -> str | None: ...
    @property
    def end_value(self) -> str | None: ...
    @property
    def lookback(self) -> timedelta | None: ...


def column_name(cursor_field: str) -> str:
    """`a.b` in the catalog is the flattened column `a__b`."""
    return cursor_field.replace(".", SEPARATOR)


def start_value(config: Incremental, last: str | None) -> str | None:
    """The value to request from: the last cursor (else `initial_value`), minus `lookback`.
    Raises `RestError` when `lookback` is set and the cursor is neither a timestamp nor a
    number (the catalog refuses that already when `initial_value` shows it)."""
    try:
        return start_from(last, config.initial_value, config.lookback)
    except ValueError:
        raise RestError(
            f"incremental.lookback needs a timestamp or numeric cursor, but cursor_field "
            f"{config.cursor_field!r} holds {last!r}"
        ) from None


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
    """The latest cursor of `table` (timestamps as instants, stored in UTC), or None."""
    name = column_name(cursor_field)
    if name not in table.column_names or table.num_rows == 0:
        return None
    return column_maximum(table.column(name))


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
        end_key = order_key(config.end_value)
        keep = [
            None if value is None else order_key(value) <= end_key for value in column.to_pylist()
        ]
        return records.filter(pa.array(keep, pa.bool_()))
    end = pa.scalar(config.end_value).cast(column.type)
    return records.filter(pc.less_equal(column, end))
