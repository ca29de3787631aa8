"""From a JSON document to Arrow: the records at a JSONPath, nested objects flattened to
`parent__child` columns, lists of objects split into child tables `<table>__<field>`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.config.jsonpath import compiled

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


def records_at(document: Any, path: str, layout: str = "rows") -> pa.Table:
    """The records at `path` as an Arrow table: a list of objects, one object, or (layout
    `columns`) an object of equal-length arrays."""
    values = find(document, path)
    if not values:
        raise ValueError(f"no records at {path!r}")
    value = values[0] if len(values) == 1 else values
    if layout == "columns":
        if not isinstance(value, dict):
            raise ValueError(f"records_layout: columns needs an object of arrays at {path!r}")
        return pa.Table.from_pydict(value)
    rows = value if isinstance(value, list) else [value]
    if not rows:
        return pa.table({})
    if not all(isinstance(row, dict) for row in rows):
        rows = [row if isinstance(row, dict) else {"value": row} for row in rows]
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _from_mixed_rows(rows)


def _from_mixed_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows whose fields change type: such fields are kept as JSON text."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else json.dumps(v) for v in values])
    return pa.table(columns)


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
    columns: dict[str, pa.ChunkedArray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        _flatten_column(name, column, 0, max_nesting, columns, result.children, parent_id)
    result.table = pa.table(columns) if columns else table.select([])
    return result


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
    values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
    return pa.chunked_array([pa.array(values, pa.string())])


def coalesce(
    tables: Iterable[pa.Table], rows: int = 50_000, nbytes: int = 64 << 20
) -> Iterator[pa.Table]:
    """Tables joined into parts of about `rows` rows (or `nbytes`), columns united by name;
    parts whose types cannot be unified are passed on separately."""
    pending: list[pa.Table] = []
    count = size = 0

    def flush() -> Iterator[pa.Table]:
        try:
            yield pa.concat_tables(pending, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            yield from pending

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
