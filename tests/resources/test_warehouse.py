"""The warehouse writer: how batches land, evolve a table, and fail without leaving a trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from resources.schema_evolution import SchemaPolicyError
from resources.warehouse import LoadResult, Warehouse
from resources.write_dispositions import BatchError, WriteSpec


def land(
    warehouse: Warehouse,
    rows: list[dict[str, Any]] | pa.Table,
    write: str = "append",
    key: Sequence[str] = (),
    cursor: str | None = None,
    **options: Any,
) -> LoadResult:
    batch = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    with warehouse.load("src", "items") as load:
        load.stage(batch)
        return load.commit(WriteSpec("src", "items", write, tuple(key), **options), cursor)


def rows(
    warehouse: Warehouse,
    sql: str = "SELECT * EXCLUDE (_load_id, _loaded_at, _source) FROM src.items ORDER BY ALL",
) -> list[tuple[Any, ...]]:
    with warehouse.read_only() as con:
        return con.execute(sql).fetchall()


def test_append_adds_rows_and_records_the_load(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1, "v": "a"}])
    result = land(warehouse, [{"id": 2, "v": "b"}])

    assert rows(warehouse) == [(1, "a"), (2, "b")]
    assert rows(
        warehouse,
        "SELECT status, rows_in, rows_inserted FROM _tributary.loads "
        f"WHERE load_id = '{result.load_id}'",
    ) == [("succeeded", 1, 1)]
    assert rows(warehouse, "SELECT DISTINCT _source FROM src.items") == [("src",)]


def test_replace_swaps_the_whole_table(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}, {"id": 2}], write="replace")
    result = land(warehouse, [{"id": 3}], write="replace")

    assert rows(warehouse) == [(3,)]
    assert (result.inserted, result.deleted) == (1, 2)


def test_merge_upserts_on_the_key_and_leaves_unchanged_rows_alone(warehouse: Warehouse) -> None:
    first = land(warehouse, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], write="merge", key=["id"])
    second = land(
        warehouse,
        [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}, {"id": 1, "v": "a"}],
        write="merge",
        key=["id"],
    )

    assert rows(warehouse) == [(1, "a"), (2, "B"), (3, "c")]
    assert (second.inserted, second.updated) == (1, 1)
    assert rows(warehouse, "SELECT _load_id FROM src.items WHERE id = 1") == [(first.load_id,)]


def test_merge_keeps_the_latest_duplicate_of_a_batch(warehouse: Warehouse) -> None:
    batch = [
        {"id": 1, "v": "old", "at": 2},
        {"id": 1, "v": "new", "at": 3},
        {"id": 1, "v": "older", "at": 1},
        {"id": 2, "v": "x", "at": 1},
        {"id": 2, "v": "last arrived", "at": 1},
    ]

    land(warehouse, batch, write="merge", key=["id"], order_by="at")

    assert rows(warehouse) == [(1, "new", 3), (2, "last arrived", 1)]


def test_merge_refuses_null_keys(warehouse: Warehouse) -> None:
    with pytest.raises(BatchError, match="1 row\\(s\\) have a null primary_key"):
        land(warehouse, [{"id": 1}, {"id": None}], write="merge", key=["id"])


def test_scd2_keeps_history(warehouse: Warehouse) -> None:
    land(
        warehouse, [{"id": 1, "tier": "free"}, {"id": 2, "tier": "free"}], write="scd2", key=["id"]
    )
    result = land(warehouse, [{"id": 1, "tier": "pro"}], write="scd2", key=["id"])

    history = rows(
        warehouse,
        "SELECT id, tier, _valid_to IS NULL AS current FROM src.items ORDER BY id, _valid_from",
    )
    assert history == [(1, "free", False), (1, "pro", True), (2, "free", False)]
    assert (result.inserted, result.updated, result.deleted) == (0, 1, 1)


def test_an_empty_batch_never_wipes_a_table(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}], write="replace")

    with pytest.raises(BatchError, match="the batch is empty"):
        land(warehouse, pa.table({"id": pa.array([], pa.int64())}), write="replace")

    assert rows(warehouse) == [(1,)]


def test_an_empty_batch_empties_the_table_when_allowed(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}], write="replace")

    land(warehouse, pa.table({"id": pa.array([], pa.int64())}), write="replace", allow_empty=True)

    assert rows(warehouse) == []


def test_a_new_column_is_added_and_recorded(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])
    result = land(warehouse, [{"id": 2, "colour": "red"}])

    assert rows(warehouse) == [(1, None), (2, "red")]
    assert rows(
        warehouse,
        "SELECT column_name, change, new_type FROM _tributary.schema_changes "
        f"WHERE load_id = '{result.load_id}'",
    ) == [("colour", "added", "VARCHAR")]


@pytest.mark.parametrize(
    ("first", "then", "widened"),
    [
        (pa.array([1], pa.int32()), pa.array([2**40], pa.int64()), "BIGINT"),
        (pa.array([1], pa.int64()), pa.array([2.5], pa.float64()), "DOUBLE"),
        (pa.array([1.5], pa.float64()), pa.array(["n/a"], pa.string()), "VARCHAR"),
    ],
)
def test_a_type_change_widens_the_column(
    warehouse: Warehouse, first: pa.Array, then: pa.Array, widened: str
) -> None:
    land(warehouse, pa.table({"v": first}))
    land(warehouse, pa.table({"v": then}))

    assert rows(
        warehouse,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'items' AND column_name = 'v'",
    ) == [(widened,)]
    assert len(rows(warehouse)) == 2


def test_a_narrower_type_fits_without_a_change(warehouse: Warehouse) -> None:
    land(warehouse, pa.table({"v": pa.array([1.5])}))
    result = land(warehouse, pa.table({"v": pa.array([2], pa.int32())}))

    assert result.schema_changes == []
    assert rows(warehouse) == [(1.5,), (2.0,)]


def test_freeze_refuses_any_difference_and_lists_it(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1, "v": 1}])

    with pytest.raises(SchemaPolicyError) as caught:
        land(warehouse, [{"id": "2", "extra": True}], schema_policy="freeze")

    message = str(caught.value)
    assert "id: type BIGINT -> VARCHAR" in message
    assert "extra: new column (BOOLEAN)" in message
    assert "v: column missing from the batch" in message
    assert rows(warehouse) == [(1, 1)]


def test_discard_columns_drops_and_records_unknown_columns(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])
    result = land(warehouse, [{"id": 2, "secret": "x"}], schema_policy="discard_columns")

    assert rows(warehouse) == [(1,), (2,)]
    assert [(c.column, c.change) for c in result.schema_changes] == [("secret", "discarded")]


def test_hostile_column_names_are_just_names(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}], write="replace")
    hostile = 'x"; DROP TABLE src.items; --'

    land(warehouse, [{"id": 2, hostile: "boom"}])

    assert rows(
        warehouse,
        f'SELECT id, "{hostile.replace(chr(34), chr(34) * 2)}" FROM src.items ORDER BY id',
    ) == [(1, None), (2, "boom")]


def test_a_failed_load_changes_nothing_but_its_record(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1, "v": "a"}], write="merge", key=["id"], cursor="2026-01-01")

    with pytest.raises(BatchError):
        land(
            warehouse,
            [{"id": 2, "v": "b"}, {"id": None, "v": "c"}],
            write="merge",
            key=["id"],
            cursor="2026-02-01",
        )

    assert rows(warehouse) == [(1, "a")]
    assert rows(warehouse, "SELECT cursor_value FROM _tributary.state") == [("2026-01-01",)]
    assert rows(warehouse, "SELECT status FROM _tributary.loads ORDER BY started_at") == [
        ("succeeded",),
        ("failed",),
    ]


def test_data_and_cursor_commit_together(warehouse: Warehouse) -> None:
    result = land(warehouse, [{"id": 1}], cursor="42")

    assert rows(
        warehouse, "SELECT source, table_name, cursor_value, load_id FROM _tributary.state"
    ) == [("src", "items", "42", result.load_id)]


def test_staging_files_are_removed_after_the_load(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])
    with pytest.raises(BatchError):
        land(warehouse, [], write="replace")

    assert list(warehouse.staging_directory.iterdir()) == []


def test_batches_staged_in_parts_are_unioned_by_name(warehouse: Warehouse) -> None:
    with warehouse.load("src", "items") as load:
        load.stage([pa.table({"id": [1], "a": ["x"]}), pa.table({"b": [True], "id": [2]})])
        load.commit(WriteSpec("src", "items", "append"))

    assert rows(warehouse, "SELECT id, a, b FROM src.items ORDER BY id") == [
        (1, "x", None),
        (2, None, True),
    ]


def test_lineage_column_names_in_the_data_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(BatchError, match="reserved for the platform: _load_id"):
        land(warehouse, [{"id": 1, "_load_id": "mine"}])


def test_read_only_connections_cannot_write(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])

    with warehouse.read_only() as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM src.items")
