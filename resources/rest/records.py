"""From a JSON document to Arrow: the records at a JSONPath, nested objects flattened to
`parent__child` columns, lists of objects split into child tables `<table>__<field>`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from resources.jsonpath import compiled
from resources.rest.errors import RestError
from resources.rest.exact import (
    MAX_DIGITS,
    InexactNumberError,
    arrow_type,
    dumps,
    table_from_columns,
    table_from_rows,
    typed,
)

SEPARATOR = "__"
PARENT_ID = "_parent_id"
INDEX = "_index"


def find(document: Any, path: str) -> list[Any]:
    """Every value at `path` (`$` is the document itself)."""
    if path in ("$", ""):
        return [document]
    return [match.value for match in compiled(path).find(document)]


def find_one(document: Any, path: str) -> Any:
    values = find(document, path)
    return values[0] if values else None


def records_at(document: Any, path: str, layout: str = "rows", required: bool = True) -> pa.Table:
    """The records at `path` as an Arrow table: a list of objects, one object, or (layout
    `columns`) an object of equal-length arrays. `null` at the path, or (unless `required`)
    no value at all, is a page without records; so are `null` items of a list. Every number
    lands exactly (see `resources.rest.exact`); one that cannot raises `InexactNumberError`."""
    values = find(document, path)
    if not values and required:
        raise ValueError(f"no records at {path!r}")
    value = values[0] if len(values) == 1 else values
    if value is None or (not values and not required):
        return pa.table({})
    if layout == "columns":
        if not isinstance(value, dict):
            raise ValueError(f"records_layout: columns needs an object of arrays at {path!r}")
        return table_from_columns(value)
    rows = [row for row in value if row is not None] if isinstance(value, list) else [value]
    if not rows:
        return pa.table({})
    if not all(isinstance(row, dict) for row in rows):
        rows = [row if isinstance(row, dict) else {"value": row} for row in rows]
    return table_from_rows(rows)


@dataclass
class Flattened:
    table: pa.Table
    children: dict[str, pa.Table] = field(default_factory=dict)


def flatten(
    table: pa.Table, max_nesting: int, parent_id: pa.ChunkedArray | pa.Array | None
) -> Flattened:
    """Struct columns become `a__b` columns down to `max_nesting` levels (deeper ones are JSON
    text); each list-of-struct column becomes a child table keyed by `_parent_id` (the row's
    `parent_id`) and `_index` (the position in the list)."""
    result = Flattened(table)
    columns: dict[str, pa.ChunkedArray] = _OneColumnPerName()
    for name, column in zip(table.column_names, table.columns, strict=True):
        _flatten_column(name, column, 0, max_nesting, columns, result.children, parent_id)
    result.table = pa.table(columns) if columns else table.select([])
    return result


class _OneColumnPerName(dict[str, pa.ChunkedArray]):
    """Flattened columns by name: a nested field and a key that already reads `a__b` would both
    be `a__b`, and one would silently replace the other."""

    def __setitem__(self, name: str, column: pa.ChunkedArray) -> None:
        if name in self:
            raise RestError(
                f'two fields land as the column "{name}": a nested field and a key spelled '
                f'with "{SEPARATOR}"'
            )
        super().__setitem__(name, column)


def _flatten_column(
    name: str,
    column: pa.ChunkedArray,
    depth: int,
    max_nesting: int,
    out: dict[str, pa.ChunkedArray],
    children: dict[str, pa.Table],
    parent_id: pa.ChunkedArray | pa.Array | None,
) -> None:
    kind = column.type
    if pa.types.is_struct(kind):
        if depth >= max_nesting or kind.num_fields == 0:
            out[name] = _as_json(column)
            return
        parts = column.flatten()
        for index in range(kind.num_fields):
            child = f"{name}{SEPARATOR}{kind.field(index).name}"
            _flatten_column(child, parts[index], depth + 1, max_nesting, out, children, parent_id)
        return
    if _is_list(kind) and pa.types.is_struct(kind.value_type):
        if parent_id is None or depth >= max_nesting:
            out[name] = _as_json(column)
            return
        children[name] = _child_table(column, parent_id, max_nesting - depth - 1)
        return
    # A column of nulls only stays Arrow's null type: nulls are no evidence of a type, and the
    # writer creates no column from them (a list of objects arriving as null: no child rows).
    out[name] = column


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind))


def _child_table(
    column: pa.ChunkedArray, parent_id: pa.ChunkedArray | pa.Array, max_nesting: int
) -> pa.Table:
    lists = column.combine_chunks()
    parents = pc.list_parent_indices(lists)
    offsets = pc.cast(lists.offsets, pa.int64())
    starts = pc.subtract(pc.take(offsets, parents), offsets[0])
    positions = pc.subtract(pa.array(range(len(parents)), pa.int64()), starts)
    items = pa.table({"item": pc.list_flatten(lists)})
    flat = flatten(items, max_nesting + 1, None).table
    renamed = flat.rename_columns([c.removeprefix("item" + SEPARATOR) for c in flat.column_names])
    ids = pc.take(parent_id, parents)
    return renamed.append_column(PARENT_ID, ids).append_column(INDEX, positions)


def _as_json(column: pa.ChunkedArray) -> pa.ChunkedArray:
    values = [None if v is None else dumps(v) for v in column.to_pylist()]
    return pa.chunked_array([pa.array(values, pa.string())])


def coalesce(
    tables: Iterable[pa.Table], rows: int = 50_000, nbytes: int = 64 << 20
) -> Iterator[pa.Table]:
    """Tables joined into parts of about `rows` rows (or `nbytes`), columns united by name.
    Numeric columns whose types differ between tables get the type that holds all their values
    exactly (`resources.rest.exact`), or raise `RestError` naming the field when none does;
    tables whose other types cannot be unified exactly are passed on separately."""
    pending: list[pa.Table] = []
    count = size = 0

    def flush() -> Iterator[pa.Table]:
        joined = _joined(pending)
        if joined is None:
            joined = _joined(_numbers_united(pending))
        if joined is None:
            yield from pending
        else:
            yield joined

    for table in tables:
        if table.num_columns == 0:
            continue
        pending.append(table)
        count, size = count + table.num_rows, size + table.nbytes
        if count >= rows or size >= nbytes:
            yield from flush()
            pending, count, size = [], 0, 0
    if pending:
        yield from flush()


def _joined(parts: list[pa.Table]) -> pa.Table | None:
    """The parts as one table, if Arrow's promotion keeps every value; else None."""
    try:
        joined = pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return joined if all(_holds(joined.schema, part.schema) for part in parts) else None


def _is_number(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_null(kind)
    )


def _numbers_united(parts: list[pa.Table]) -> list[pa.Table]:
    """The parts with each numeric column whose type differs between them retyped to the one
    type that holds all its values (int64 and uint64 values: DECIMAL(38,0) when some are
    negative; doubles and decimals: a DECIMAL wide enough, else a `RestError`)."""
    names = list(dict.fromkeys(name for part in parts for name in part.column_names))
    targets: dict[str, pa.DataType] = {}
    for name in names:
        kinds = {part.schema.field(name).type for part in parts if name in part.column_names}
        if len(kinds) == 1 or not all(_is_number(kind) for kind in kinds):
            continue
        values = [
            value
            for part in parts
            if name in part.column_names
            for value in part.column(name).to_pylist()
        ]
        try:
            targets[name] = arrow_type(values, name)
        except InexactNumberError as error:
            raise RestError(str(error)) from None
    united = []
    for part in parts:
        for name, kind in targets.items():
            if name in part.column_names and part.schema.field(name).type != kind:
                index = part.schema.get_field_index(name)
                part = part.set_column(index, name, typed(part.column(name).to_pylist(), kind))
        united.append(part)
    return united


_INTEGER_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20}


def _holds(joined: pa.Schema, part: pa.Schema) -> bool:
    """Whether every column of `part` keeps its values in `joined`'s type: Arrow's permissive
    promotion turns int64 with uint64 into int64, and decimals with doubles into doubles."""
    return all(_widens(field.type, joined.field(field.name).type) for field in part)


def _widens(part: pa.DataType, joined: pa.DataType) -> bool:
    if part == joined or pa.types.is_null(part):
        return True
    if pa.types.is_integer(part) and pa.types.is_integer(joined):
        signed = pa.types.is_signed_integer
        if signed(part) == signed(joined):
            return bool(joined.bit_width >= part.bit_width)
        return bool(signed(joined) and joined.bit_width > part.bit_width)
    if pa.types.is_floating(part) and pa.types.is_floating(joined):
        return bool(joined.bit_width >= part.bit_width)
    if pa.types.is_decimal(joined) and joined.precision > MAX_DIGITS:
        return False
    if pa.types.is_decimal(joined) and (pa.types.is_integer(part) or pa.types.is_decimal(part)):
        whole = joined.precision - joined.scale
        if pa.types.is_integer(part):
            return bool(whole >= _INTEGER_DIGITS[part.bit_width])
        return bool(joined.scale >= part.scale and whole >= part.precision - part.scale)
    if pa.types.is_struct(part) and pa.types.is_struct(joined):
        names = {joined.field(i).name: joined.field(i).type for i in range(joined.num_fields)}
        return all(
            part.field(i).name in names and _widens(part.field(i).type, names[part.field(i).name])
            for i in range(part.num_fields)
        )
    if _is_list(part) and _is_list(joined):
        return _widens(part.value_type, joined.value_type)
    return bool(pa.types.is_string(part) and pa.types.is_large_string(joined))
