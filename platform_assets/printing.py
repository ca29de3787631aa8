"""Rows as the CLI prints them: every value exactly as DuckDB returned it, in every format.

tabulate reads numbers from text and prints floats with `%g` (459096.99 became `459097`), and
`json.dumps(default=str)` turns a DECIMAL into a string. Here each value is written once, by its
type: a DECIMAL with all its digits and scale (`459096.99`), a DOUBLE as the shortest text that
reads back to it (`1234567.891`), an integer of any width in full, in JSON too.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, get_args

from tabulate import tabulate

OutputFormat = Literal["table", "csv", "json"]
FORMATS: tuple[str, ...] = get_args(OutputFormat)


def text(value: Any, nested: bool = False) -> str:
    """One value as text, exactly: None is empty (NULL inside a list or struct), a Decimal in
    positional notation with its scale (`Decimal('1E-7')` is `0.0000001`), a float as Python's
    shortest round-trip repr, lists and structs as DuckDB writes them (`[1.10, 2.25]`,
    `{'net': 99.90}`)."""
    if value is None:
        return "NULL" if nested else ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"'{k}': {text(v, True)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(text(v, True) for v in value) + "]"
    return str(value)


def json_value(value: Any) -> str:
    """One value as a JSON token: numbers as number literals with every digit (a Decimal is
    never rounded through a float), lists and structs (dicts) recursively, anything else (dates,
    UUIDs, blobs) as its text."""
    if value is None or isinstance(value, bool | str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else json.dumps(str(value))
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else json.dumps(repr(value))
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}: {json_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _numeric(column: Sequence[Any]) -> bool:
    present = [v for v in column if v is not None]
    return bool(present) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    )


def format_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]], output: str) -> str:
    """`rows` under `headers` as a text table (numbers right-aligned, a row count under it),
    CSV, or a JSON array of objects. Raises ValueError for any other `output`."""
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows([text(v) for v in row] for row in rows)
        return buffer.getvalue().rstrip("\n")
    if output == "json":
        objects = (
            "{"
            + ", ".join(
                f"{json.dumps(h)}: {json_value(v)}" for h, v in zip(headers, row, strict=True)
            )
            + "}"
            for row in rows
        )
        return "[" + ", ".join(objects) + "]"
    if output == "table":
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in headers]
        align = ["right" if _numeric(c) else "left" for c in columns]
        table = tabulate(
            [[text(v) for v in row] for row in rows],
            headers=list(headers),
            disable_numparse=True,
            colalign=align or None,
        )
        return f"{table}\n({len(rows)} row{'s' if len(rows) != 1 else ''})"
    raise ValueError(f"{output!r} is not an output format: use {', '.join(FORMATS)}")


def percent(rate: float | None) -> str | None:
    """A rate between 0 and 1 as every report prints it: `66.7%` (None stays None)."""
    return None if rate is None else f"{rate:.1%}"
