"""The reader of `kind: python`: a plugin's batches as Arrow streams for the writer to stage,
split where the columns change and every so many rows, and the cursor they reach."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from platform_assets.python_kind.reader import PluginRead, as_arrow
from tributary import DataSource, State, TableRequest
from tributary.source import SourceOptions

Rows = list[dict[str, Any]]


class Shapes(DataSource):
    def fetch(self, table: TableRequest, state: State) -> Iterator[Any]:
        yield [{"a": 1}]
        yield pl.DataFrame({"a": [2]})
        yield []  # no rows, no columns: nothing to stage
        yield pa.record_batch({"a": [3], "b": ["x"]})
        yield [{"a": 4, "b": "y"}]


def read_streams(max_rows: int) -> list[Rows]:
    read = PluginRead(Shapes(SourceOptions()), "shapes", TableRequest("t"), State())
    return [stream.read_all().to_pylist() for stream in read.streams(max_rows)]


def test_one_stream_per_run_of_batches_with_the_same_columns() -> None:
    assert read_streams(max_rows=100) == [
        [{"a": 1}, {"a": 2}],
        [{"a": 3, "b": "x"}, {"a": 4, "b": "y"}],
    ]


def test_a_stream_ends_once_it_holds_max_rows() -> None:
    assert read_streams(max_rows=1) == [
        [{"a": 1}],
        [{"a": 2}],
        [{"a": 3, "b": "x"}],
        [{"a": 4, "b": "y"}],
    ]


class Stamped(DataSource):
    def fetch(self, table: TableRequest, state: State) -> Iterator[Rows]:
        yield [{"at": datetime(2026, 3, 2, 10, tzinfo=UTC)}]
        yield [{"at": datetime(2026, 3, 1, 10, tzinfo=UTC)}]


def test_the_cursor_is_the_largest_value_seen_and_never_moves_back() -> None:
    table = TableRequest("t", cursor_field="at")
    fresh = PluginRead(Stamped(SourceOptions()), "s", table, State())
    behind = PluginRead(Stamped(SourceOptions()), "s", table, State(last_cursor="2026-04-01"))
    for read in (fresh, behind):
        for stream in read.streams():
            stream.read_all()

    assert fresh.cursor == "2026-03-02T10:00:00Z"  # timestamps are stored in UTC, as REST's
    assert behind.cursor == "2026-04-01"


class Advancing(DataSource):
    def fetch(self, table: TableRequest, state: State) -> Iterator[Rows]:
        yield [{"id": 1}]
        return "change-token-42"


def test_a_cursor_the_plugin_returns_is_stored_as_it_is() -> None:
    read = PluginRead(Advancing(SourceOptions()), "a", TableRequest("t"), State())
    assert [s.read_all().num_rows for s in read.streams()] == [1]
    assert read.cursor == "change-token-42"


class Announcing(DataSource):
    def fetch(self, table: TableRequest, state: State) -> Iterator[Rows]:
        yield [{"id": 1}]
        state.advance("offset-7")


def test_a_cursor_the_plugin_advances_to_is_stored_as_it_is() -> None:
    read = PluginRead(
        Announcing(SourceOptions()), "a", TableRequest("t", cursor_field="id"), State()
    )
    assert [s.read_all().num_rows for s in read.streams()] == [1]
    assert read.cursor == "offset-7"


def test_integers_beyond_64_bits_in_a_list_of_dicts_stay_exact() -> None:
    table = as_arrow([{"id": 14933243513335727983}, {"id": 5}])

    assert table.column("id").type == pa.uint64()
    assert table.column("id").to_pylist() == [14933243513335727983, 5]
