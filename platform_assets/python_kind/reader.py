"""The reader of `kind: python`: a plugin's batches as Arrow tables, and the cursor they reach.

It takes the plugin object and plain values; it knows nothing of the catalog or of Dagster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pyarrow as pa

from resources.cursors import column_maximum, later
from resources.rest.exact import table_from_rows
from tributary.source import Batch, DataSource, PluginError, State, TableRequest

STREAM_ROWS = 500_000
"""About how many rows one stream (one staging statement) carries."""


def as_arrow(batch: Batch) -> pa.Table:
    """A batch as an Arrow table; raises `TypeError` for anything that is not a `Batch`, and
    Arrow's own error when a list of dicts does not make a table (e.g. a column holding both
    numbers and text). Numbers of a list of dicts land exactly, as JSON numbers of a REST
    source do: an integer beyond 64 bits as UBIGINT or DECIMAL(38,0), never a float; one no type
    holds raises `InexactNumberError` naming the field."""
    if isinstance(batch, pa.Table):
        return batch
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    if isinstance(batch, pl.DataFrame):
        return batch.to_arrow()
    if isinstance(batch, list) and all(isinstance(row, dict) for row in batch):
        return table_from_rows(batch)
    raise TypeError(
        f"a batch must be a pyarrow Table or RecordBatch, a polars DataFrame or a list of "
        f"dicts, not {type(batch).__name__}"
    )


class PluginRead:
    """One table's read: iterate `batches()` once; afterwards `cursor` is where it got to.

    Any exception the plugin raises (or a batch that cannot become Arrow) becomes one
    `PluginError` naming the plugin, the phase and the cause, secrets redacted.
    """

    def __init__(self, plugin: DataSource, name: str, table: TableRequest, state: State) -> None:
        self.plugin, self.name, self.table, self.state = plugin, name, table, state
        self.reached: str | None = None
        self.returned: str | None = None
        self.error: PluginError | None = None
        self._next: pa.Table | None = None
        self.rows = 0

    @property
    def cursor(self) -> str | None:
        """The position to store: what the plugin set (`state.advance` or its generator's
        return value), else the largest `cursor_field` value seen, never before the last one."""
        explicit = self.returned if self.returned is not None else self.state.explicit
        if explicit is not None:
            return explicit
        if self.table.cursor_field is None:
            return None
        return later(self.state.last_cursor, self.reached)

    def streams(self, max_rows: int = STREAM_ROWS) -> Iterator[pa.RecordBatchReader]:
        """The batches as Arrow streams of at most about `max_rows` rows, each of batches with
        the same schema, to be read one after the other: a writer reads a stream as one
        statement while the plugin makes its next batch, and commits it before the next
        stream, which keeps its memory bounded. A `PluginError` raised while a stream is read
        is kept in `error`, since the stream's reader may wrap it in an error of its own."""
        tables = (t.replace_schema_metadata(None) for t in self.batches() if t.schema.names)
        pending = next(tables, None)
        while pending is not None:
            run = self._run(pending, tables, max_rows)
            yield pa.RecordBatchReader.from_batches(pending.schema, run)
            pending = self._next

    def _run(
        self, first: pa.Table, tables: Iterator[pa.Table], max_rows: int = STREAM_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """`first` and the tables after it with its schema, up to `max_rows` rows; the table
        that ends the run is left in `_next`."""
        current: pa.Table | None = first
        rows = 0
        while current is not None and current.schema.equals(first.schema) and rows < max_rows:
            rows += current.num_rows
            yield from current.to_batches()
            try:
                current = next(tables, None)
            except PluginError as error:
                self.error = error
                raise
        self._next = current

    def batches(self) -> Iterator[pa.Table]:
        phase = "fetch"
        try:
            iterator = iter(self.plugin.fetch(self.table, self.state))
            while True:
                phase = "fetch"
                try:
                    raw = next(iterator)
                except StopIteration as stop:
                    self.returned = _as_cursor(stop.value)
                    return
                phase = "transform"
                shaped = self.plugin.transform(raw, self.table)
                phase = "batch"
                arrow = as_arrow(shaped)
                self._track(arrow)
                yield arrow
        except PluginError:
            raise
        except Exception as error:
            raise self._error(phase, error) from error

    def _track(self, batch: pa.Table) -> None:
        self.rows += batch.num_rows
        field = self.table.cursor_field
        if field is None or batch.num_rows == 0:
            return
        if field not in batch.column_names:
            raise PluginError(
                f"plugin {self.name!r}: incremental.cursor_field {field!r} is not a column of "
                f"the batch (columns: {', '.join(batch.column_names)})"
            )
        column = batch.column(field)
        if column.null_count:
            raise PluginError(
                f"plugin {self.name!r}: incremental.cursor_field {field!r} is null in "
                f"{column.null_count} of {batch.num_rows} rows"
            )
        self.reached = later(self.reached, column_maximum(column))

    def _error(self, phase: str, error: Exception) -> PluginError:
        where = "yielded an invalid batch" if phase == "batch" else f"failed in {phase}"
        cause = self.plugin.redact(f"{type(error).__name__}: {error}")
        return PluginError(f"plugin {self.name!r} {where}: {cause}")


def _as_cursor(value: Any) -> str | None:
    return None if value is None else str(value)
