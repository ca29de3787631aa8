"""The reader of `kind: stream`: a batch of broker messages as one Arrow table of rows, plus the
messages that could not become rows (dead letters), nothing dropped.

It takes messages and plain values; it knows nothing of Dagster or of warehouse tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from resources.naming import ColumnNaming, normalized_records
from resources.quarantine import DeadLetter
from resources.rest.exact import table_from_rows
from resources.streams.base import Message

Format = Literal["json", "jsonl", "text"]
TEXT_COLUMN = "payload"
"""The column a `format: text` message lands in."""


@dataclass
class Decoded:
    """The rows of a batch (`rows`, with the message id of each in the id column), the messages
    that could not become rows, and `{column: name in the messages}` for renamed columns."""

    rows: pa.Table
    dead_letters: list[DeadLetter] = field(default_factory=list)
    source_names: dict[str, str] = field(default_factory=dict)


def decode(
    messages: Sequence[Message],
    format: Format,
    id_column: str,
    key: Sequence[str] = (),
    naming: ColumnNaming = "snake_case",
) -> Decoded:
    """One row per message (`json`, `text`) or per non-blank line (`jsonl`, ids `<id>:<line>`).

    A message that is not UTF-8, not JSON, not a JSON object, or lacks a `key` column, becomes a
    dead letter with the reason. Raises ColumnNameClash when two fields land as one column."""
    if format == "text":
        decoded = _text(messages, id_column)
    elif format == "json":
        decoded = _fast_json(messages, id_column) or _json(messages, id_column, lines=False)
    else:
        decoded = _json(messages, id_column, lines=True)
    decoded.rows, decoded.source_names = normalized_records(decoded.rows, naming)
    if key and decoded.rows.num_rows:
        _keyless_to_dead_letters(decoded, messages, key, id_column)
    return decoded


def _fast_json(messages: Sequence[Message], id_column: str) -> Decoded | None:
    """Arrow's JSON reader over the payloads, one per line: only when every payload is one
    object on one line and the whole batch types cleanly; else None (the careful path)."""
    if not messages or any(b"\n" in m.payload for m in messages):
        return None
    buffer = b"\n".join(m.payload for m in messages)
    try:
        table = pa_json.read_json(
            pa.py_buffer(buffer),
            read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(buffer) + 1)),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(messages) or id_column in table.column_names:
        return None
    ids = pa.array([m.id for m in messages], pa.string())
    return Decoded(table.append_column(id_column, ids))


def _json(messages: Sequence[Message], id_column: str, lines: bool) -> Decoded:
    rows: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for message in messages:
        try:
            text = message.payload.decode("utf-8")
        except UnicodeDecodeError as error:
            dead.append(DeadLetter(message.id, f"not UTF-8: {error}", message.payload))
            continue
        parts = (
            [
                (f"{message.id}:{n}", line)
                for n, line in enumerate(text.splitlines())
                if line.strip()
            ]
            if lines
            else [(message.id, text)]
        )
        parsed: list[dict[str, Any]] = []
        for ident, part in parts:
            try:
                value = json.loads(part)
            except ValueError as error:
                reason = f"not JSON: {error}"
                break
            if not isinstance(value, dict):
                reason = f"not a JSON object: a {type(value).__name__}"
                break
            if id_column in value:
                reason = f"the message has a field {id_column!r}, which the platform adds"
                break
            value[id_column] = ident
            parsed.append(value)
        else:
            if not parts:
                dead.append(DeadLetter(message.id, "empty message", message.payload))
            rows.extend(parsed)
            continue
        dead.append(DeadLetter(message.id, reason, message.payload))
    table = table_from_rows(rows) if rows else pa.table({id_column: pa.array([], pa.string())})
    return Decoded(table, dead)


def _text(messages: Sequence[Message], id_column: str) -> Decoded:
    ids: list[str] = []
    texts: list[str] = []
    dead: list[DeadLetter] = []
    for message in messages:
        try:
            texts.append(message.payload.decode("utf-8"))
            ids.append(message.id)
        except UnicodeDecodeError as error:
            dead.append(DeadLetter(message.id, f"not UTF-8: {error}", message.payload))
    table = pa.table(
        {TEXT_COLUMN: pa.array(texts, pa.string()), id_column: pa.array(ids, pa.string())}
    )
    return Decoded(table, dead)


def _keyless_to_dead_letters(
    decoded: Decoded, messages: Sequence[Message], key: Sequence[str], id_column: str
) -> None:
    """Rows missing a key column (or holding null there) cannot be deduplicated: their messages
    become dead letters instead of failing the batch."""
    rows = decoded.rows
    missing = [name for name in key if name not in rows.column_names]
    if missing:
        bad = pa.array([True] * rows.num_rows)
        reason = f"no primary_key field {missing[0]!r}"
    else:
        bad = pc.is_null(rows.column(key[0]))
        for name in key[1:]:
            bad = pc.or_(bad, pc.is_null(rows.column(name)))
        bad = pc.fill_null(bad, True)
        reason = f"primary_key ({', '.join(key)}) is null or missing"
    if not pc.any(bad).as_py():
        return
    payloads = {m.id: m.payload for m in messages}
    for ident in rows.filter(bad).column(id_column).to_pylist():
        message_id = str(ident)
        raw = payloads.get(message_id, payloads.get(message_id.rsplit(":", 1)[0]))
        decoded.dead_letters.append(DeadLetter(message_id, reason, raw))
    decoded.rows = rows.filter(pc.invert(bad))
