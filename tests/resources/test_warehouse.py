"""The warehouse writer: how batches land, evolve a table, and fail without leaving a trace."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from resources.schema_evolution import SchemaPolicyError
from resources.warehouse import LoadResult, Warehouse
from resources.write_dispositions import BatchError, WriteSpec
from tests.conftest import both_backends


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
    sql: str = (
        "SELECT * EXCLUDE (_load_id, _loaded_at, _source, _row_hash) FROM src.items ORDER BY ALL"
    ),
) -> list[tuple[Any, ...]]:
    with warehouse.read_only() as con:
        return con.execute(sql).fetchall()


@both_backends
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


@both_backends
def test_rows_join_their_load_record_by_load_id(warehouse: Warehouse) -> None:
    """Lineage values are the same on every row of a load, so they are stored as fixed-width
    types that compress to nothing; they still compare with the load records' text ids."""
    result = land(warehouse, [{"id": 1}, {"id": 2}])

    assert rows(
        warehouse,
        "SELECT DISTINCT typeof(_load_id), typeof(_loaded_at), typeof(_source) FROM src.items",
    ) == [
        (
            "UUID",
            "TIMESTAMP WITH TIME ZONE",
            "ENUM('src')" if warehouse.lake is None else "VARCHAR",  # DuckLake has no ENUM
        )
    ]
    assert rows(
        warehouse,
        "SELECT l.load_id, count(*) FROM src.items i "
        "JOIN _tributary.loads l ON i._load_id = l.load_id GROUP BY ALL",
    ) == [(result.load_id, 2)]


@both_backends
def test_replace_swaps_the_whole_table(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}, {"id": 2}], write="replace")
    result = land(warehouse, [{"id": 3}], write="replace")

    assert rows(warehouse) == [(3,)]
    assert (result.inserted, result.deleted) == (1, 2)


@both_backends
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
    assert rows(warehouse, "SELECT _load_id::VARCHAR FROM src.items WHERE id = 1") == [
        (first.load_id,)
    ]


@both_backends
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


@both_backends
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


@both_backends
def test_an_empty_batch_never_wipes_a_table(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}], write="replace")

    with pytest.raises(BatchError, match="the batch is empty"):
        land(warehouse, pa.table({"id": pa.array([], pa.int64())}), write="replace")

    assert rows(warehouse) == [(1,)]


def test_an_empty_batch_empties_the_table_when_allowed(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}], write="replace")

    land(warehouse, pa.table({"id": pa.array([], pa.int64())}), write="replace", allow_empty=True)

    assert rows(warehouse) == []


@both_backends
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
@both_backends
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


@pytest.mark.parametrize("write", ["merge", "scd2"])
@both_backends
def test_numbers_merge_into_a_key_widened_to_text(warehouse: Warehouse, write: str) -> None:
    """Keys are compared in the stored type: compared as numbers, the stored 'x3' would fail."""
    land(warehouse, [{"id": 2, "v": "b"}], write=write, key=["id"])
    land(warehouse, [{"id": "2", "v": "b"}, {"id": "x3", "v": "c"}], write=write, key=["id"])

    result = land(warehouse, [{"id": 2, "v": "B"}, {"id": 4, "v": "d"}], write=write, key=["id"])

    assert (result.inserted, result.updated) == (1, 1)
    if write == "merge":
        current = rows(warehouse, "SELECT id, v FROM src.items")
        assert sorted(current) == [("2", "B"), ("4", "d"), ("x3", "c")]
    else:
        current = rows(warehouse, "SELECT id, v FROM src.items WHERE _valid_to IS NULL")
        assert sorted(current) == [("2", "B"), ("4", "d")], "x3 is absent, so it is closed"


def test_a_column_that_changed_case_is_the_stored_column(warehouse: Warehouse) -> None:
    """DuckDB's names ignore case: an export that renames `email` to `Email` (or the key `id` to
    `ID`) still merges into them, and the same rows are still unchanged."""
    land(warehouse, [{"id": 1, "email": "a@x.io"}], write="merge", key=["id"])

    same = land(warehouse, [{"ID": 1, "Email": "a@x.io"}], write="merge", key=["id"])
    changed = land(warehouse, [{"ID": 1, "EMAIL": "b@x.io"}], write="merge", key=["id"])

    assert (same.inserted, same.updated, same.schema_changes) == (0, 0, [])
    assert (changed.inserted, changed.updated) == (0, 1)
    assert rows(warehouse, "SELECT id, email FROM src.items") == [(1, "b@x.io")]


@both_backends
def test_freeze_refuses_any_difference_and_lists_it(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1, "v": 1}])

    with pytest.raises(SchemaPolicyError) as caught:
        land(warehouse, [{"id": "2", "extra": True}], schema_policy="freeze")

    message = str(caught.value)
    assert "id: type BIGINT -> VARCHAR" in message
    assert "extra: new column (BOOLEAN)" in message
    assert "v: column missing from the batch" in message
    assert rows(warehouse) == [(1, 1)]


@both_backends
def test_discard_columns_drops_and_records_unknown_columns(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])
    result = land(warehouse, [{"id": 2, "secret": "x"}], schema_policy="discard_columns")

    assert rows(warehouse) == [(1,), (2,)]
    assert [(c.column, c.change) for c in result.schema_changes] == [("secret", "discarded")]


@both_backends
def test_hostile_column_names_are_just_names(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}], write="replace")
    hostile = 'x"; DROP TABLE src.items; --'

    land(warehouse, [{"id": 2, hostile: "boom"}])

    assert rows(
        warehouse,
        f'SELECT id, "{hostile.replace(chr(34), chr(34) * 2)}" FROM src.items ORDER BY id',
    ) == [(1, None), (2, "boom")]


@both_backends
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


@both_backends
def test_a_failed_first_load_leaves_no_table_and_no_schema(warehouse: Warehouse) -> None:
    """The batch is written and committed before it is judged; a batch that does not land is
    dropped with the schema made for it."""
    with pytest.raises(BatchError):
        land(warehouse, [{"id": None, "v": "c"}], write="merge", key=["id"])

    assert rows(warehouse, "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL") == [
        ("_tributary", name)
        for name in (
            "check_results",
            "dead_letters",
            "files",
            "lineage",
            "loads",
            "quarantine",
            "schema_changes",
            "state",
        )
    ]
    assert rows(warehouse, "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'src'") == [
        (0,)
    ]


@both_backends
def test_a_writer_drops_batch_tables_a_dead_writer_left(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])
    warehouse.transaction(
        lambda con: con.execute('CREATE TABLE src."__batch_20260101T000000-dead" AS SELECT 1 AS id')
    )

    land(warehouse, [{"id": 2}])

    assert rows(warehouse, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'src'") == [
        ("items",)
    ]


@both_backends
def test_data_and_cursor_commit_together(warehouse: Warehouse) -> None:
    result = land(warehouse, [{"id": 1}], cursor="42")

    assert rows(
        warehouse, "SELECT source, table_name, cursor_value, load_id FROM _tributary.state"
    ) == [("src", "items", "42", result.load_id)]


def test_staging_files_are_removed_after_the_load(warehouse: Warehouse) -> None:
    with warehouse.load("src", "items") as load:
        load.stage([pa.table({"id": [1]}), pa.table({"id": [2]})])  # in parts: a staging file
        assert load.staging_path.exists()
        load.commit(WriteSpec("src", "items", "append"))
    with pytest.raises(BatchError):
        land(warehouse, [], write="replace")

    assert list(warehouse.staging_directory.iterdir()) == []


def test_a_batch_of_one_small_arrow_table_is_read_from_memory(warehouse: Warehouse) -> None:
    """A stream's micro-batch is not copied into a staging file first: the commit reads it
    where the reader left it."""
    with warehouse.load("src", "items") as load:
        load.stage(pa.table({"id": [1, 2], "gone": pa.nulls(2)}))
        assert not load.staging_path.exists()
        load.commit(WriteSpec("src", "items", "append"))

    assert rows(warehouse, "SELECT id FROM src.items ORDER BY id") == [(1,), (2,)]


def test_a_batch_held_in_memory_is_in_the_staging_file_once_that_is_opened(
    warehouse: Warehouse,
) -> None:
    """Readers that look at the staged table (a cursor's maximum) find the held batch there."""
    with warehouse.load("src", "items") as load:
        load.stage(pa.table({"id": [1, 2]}))
        staged = load.connection.execute("SELECT count(*) FROM staged").fetchone()
        load.stage(pa.table({"id": [3]}))
        load.commit(WriteSpec("src", "items", "append"))

    assert staged == (2,)
    assert rows(warehouse, "SELECT id FROM src.items ORDER BY id") == [(1,), (2,), (3,)]


@both_backends
def test_a_session_commits_each_load_in_its_own_transaction_on_one_connection(
    warehouse: Warehouse,
) -> None:
    """A run of batches opens the warehouse once; a failed commit leaves the ones before it,
    is recorded, and the session takes the warehouse again for the next."""
    spec = WriteSpec("src", "items", "merge", ("id",))
    with warehouse.session(hold_seconds=3600) as session:
        for n in range(3):
            with session.load("src", "items") as load:
                load.stage(pa.table({"id": [n], "v": [f"v{n}"]}))
                load.commit(spec, cursor=str(n))
        assert session.opened == 1
        with pytest.raises(BatchError), session.load("src", "items") as load:
            load.stage(pa.table({"id": pa.array([None], pa.int64()), "v": ["x"]}))
            load.commit(spec, cursor="bad")
        with session.load("src", "items") as load:
            load.stage(pa.table({"id": [3], "v": ["v3"]}))
            load.commit(spec, cursor="3")
        assert session.opened == 2

    assert rows(warehouse, "SELECT id, v FROM src.items ORDER BY id") == [
        (n, f"v{n}") for n in range(4)
    ]
    assert rows(warehouse, "SELECT cursor_value FROM _tributary.state") == [("3",)]
    assert rows(
        warehouse, "SELECT status, count(*) FROM _tributary.loads GROUP BY ALL ORDER BY ALL"
    ) == [("failed", 1), ("succeeded", 4)]


def test_a_session_lets_go_of_the_warehouse_after_its_hold(warehouse: Warehouse) -> None:
    """Other writers and readers get their turn: after a commit past `hold_seconds` the
    warehouse is closed, readable by another process, and taken again at the next commit."""
    with warehouse.session(hold_seconds=0) as session:
        for n in range(2):
            with session.load("src", "items") as load:
                load.stage(pa.table({"id": [n]}))
                load.commit(WriteSpec("src", "items", "append"))
            assert rows(warehouse, "SELECT count(*) FROM src.items") == [(n + 1,)]
        assert session.opened == 2


def test_batches_staged_in_parts_are_unioned_by_name(warehouse: Warehouse) -> None:
    with warehouse.load("src", "items") as load:
        load.stage([pa.table({"id": [1], "a": ["x"]}), pa.table({"b": [True], "id": [2]})])
        load.commit(WriteSpec("src", "items", "append"))

    assert rows(warehouse, "SELECT id, a, b FROM src.items ORDER BY id") == [
        (1, "x", None),
        (2, None, True),
    ]


@pytest.mark.parametrize("name", ["_load_id", "_Row_Hash"])
def test_lineage_column_names_in_the_data_are_refused(warehouse: Warehouse, name: str) -> None:
    with pytest.raises(BatchError, match=f"reserved for the platform: {name}"):
        land(warehouse, [{"id": 1, name: "mine"}])


@both_backends
def test_read_only_connections_cannot_write(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1}])

    with warehouse.read_only() as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM src.items")


def stored_hashes(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    return rows(warehouse, "SELECT id, _row_hash FROM src.items ORDER BY ALL")


def first_load_hashes(tmp_path: Path, batch: pa.Table) -> list[tuple[Any, ...]]:
    """The hashes a brand-new table holding `batch` would store."""
    fresh = Warehouse(path=str(tmp_path / "fresh.duckdb"), staging_dir=str(tmp_path / ".fresh"))
    land(fresh, batch, write="replace")
    return stored_hashes(fresh)


@both_backends
def test_merging_the_same_batch_again_rewrites_nothing(warehouse: Warehouse) -> None:
    batch = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    first = land(warehouse, batch, write="merge", key=["id"])
    hashes = stored_hashes(warehouse)

    again = land(warehouse, batch, write="merge", key=["id"])

    assert (again.inserted, again.updated) == (0, 0)
    assert rows(warehouse, "SELECT DISTINCT _load_id::VARCHAR FROM src.items") == [(first.load_id,)]
    assert stored_hashes(warehouse) == hashes
    assert all(row_hash is not None for _, row_hash in hashes)


@pytest.mark.parametrize(
    "n",
    [pa.array([1.0, 7.0], pa.float64()), pa.array([1, 7], pa.int32())],
    ids=["same types", "a narrower type cast on insert"],
)
def test_a_changed_row_is_updated_and_hashed_as_a_first_load_would_hash_it(
    warehouse: Warehouse, tmp_path: Path, n: pa.Array
) -> None:
    land(warehouse, pa.table({"id": [1, 2], "n": [1.0, 2.0]}), write="merge", key=["id"])

    result = land(warehouse, pa.table({"id": [1, 2], "n": n}), write="merge", key=["id"])

    assert (result.inserted, result.updated) == (0, 1)
    assert rows(warehouse) == [(1, 1.0), (2, 7.0)]
    as_stored = pa.table({"id": [1, 2], "n": [1.0, 7.0]})
    assert stored_hashes(warehouse) == first_load_hashes(tmp_path, as_stored)


def test_appended_rows_are_hashed_as_a_first_load_would_hash_them(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    land(warehouse, pa.table({"id": [1], "n": [1.0]}))

    land(warehouse, pa.table({"id": [2], "n": pa.array([7], pa.int32())}))

    as_stored = pa.table({"id": [1, 2], "n": [1.0, 7.0]})
    assert stored_hashes(warehouse) == first_load_hashes(tmp_path, as_stored)


def test_the_order_of_a_batch_s_columns_does_not_matter(warehouse: Warehouse) -> None:
    land(warehouse, pa.table({"id": [1, 2], "v": ["a", "b"]}), write="merge", key=["id"])

    result = land(warehouse, pa.table({"v": ["a", "b"], "id": [1, 2]}), write="merge", key=["id"])

    assert (result.inserted, result.updated) == (0, 0)


@both_backends
def test_after_a_new_column_the_same_batch_again_rewrites_nothing(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], write="merge", key=["id"])
    evolved = [{"id": 1, "v": "a", "colour": "red"}, {"id": 2, "v": "b", "colour": "blue"}]

    second = land(warehouse, evolved, write="merge", key=["id"])
    third = land(warehouse, evolved, write="merge", key=["id"])

    assert (second.inserted, second.updated) == (0, 2)
    assert (third.inserted, third.updated) == (0, 0)
    assert rows(warehouse) == [(1, "a", "red"), (2, "b", "blue")]


@pytest.mark.parametrize(
    ("first", "evolving", "unchanged"),
    [
        (
            pa.table({"id": [1, 2], "n": [10, 20]}),
            pa.table({"id": [1], "n": [11], "colour": ["red"]}),
            pa.table({"id": [2], "n": [20]}),
        ),
        (
            pa.table({"id": [1, 2], "n": [10, 20]}),
            pa.table({"id": [1], "n": ["n/a"]}),
            pa.table({"id": [2], "n": [20]}),
        ),
    ],
    ids=["a column added", "a column widened"],
)
def test_rows_a_schema_change_did_not_touch_still_count_as_unchanged(
    warehouse: Warehouse, first: pa.Table, evolving: pa.Table, unchanged: pa.Table
) -> None:
    land(warehouse, first, write="merge", key=["id"])
    land(warehouse, evolving, write="merge", key=["id"])

    result = land(warehouse, unchanged, write="merge", key=["id"])

    assert (result.inserted, result.updated) == (0, 0)


@pytest.mark.parametrize("policy", ["evolve", "freeze", "discard_columns"])
def test_a_table_from_before_row_hashes_is_rewritten_once(
    warehouse: Warehouse, policy: str
) -> None:
    with duckdb.connect(warehouse.path) as con:
        con.execute(
            "CREATE SCHEMA src; CREATE TABLE src.items AS SELECT * FROM (VALUES "
            "(1::BIGINT, 'a', 'old', now(), 'src'), (2::BIGINT, 'b', 'old', now(), 'src')) "
            "t(id, v, _load_id, _loaded_at, _source)"
        )
    batch = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]

    once = land(warehouse, batch, write="merge", key=["id"], schema_policy=policy)
    again = land(warehouse, batch, write="merge", key=["id"], schema_policy=policy)

    assert (once.inserted, once.updated) == (0, 2)
    assert (again.inserted, again.updated) == (0, 0)
    assert rows(warehouse) == [(1, "a"), (2, "b")]
    assert rows(warehouse, "SELECT count(*) FROM src.items WHERE _row_hash IS NULL") == [(0,)]


@both_backends
def test_discarded_columns_are_not_part_of_the_row_hash(warehouse: Warehouse) -> None:
    land(warehouse, [{"id": 1, "v": "a"}], write="replace")
    land(
        warehouse,
        [{"id": 1, "v": "a", "secret": "x"}],
        write="replace",
        schema_policy="discard_columns",
    )

    result = land(warehouse, [{"id": 1, "v": "a"}], write="merge", key=["id"])

    assert (result.inserted, result.updated) == (0, 0)


def test_scd2_with_an_unchanged_batch_opens_and_closes_nothing(warehouse: Warehouse) -> None:
    batch = [{"id": 1, "tier": "free"}, {"id": 2, "tier": "free"}]
    land(warehouse, batch, write="scd2", key=["id"])

    result = land(warehouse, batch, write="scd2", key=["id"])

    assert (result.inserted, result.updated, result.deleted) == (0, 0, 0)
    assert rows(warehouse, "SELECT count(*) FROM src.items WHERE _valid_to IS NULL") == [(2,)]
    assert rows(warehouse, "SELECT count(*) FROM src.items") == [(2,)]


@both_backends
def test_scd2_closes_exactly_the_version_of_the_changed_row(warehouse: Warehouse) -> None:
    land(
        warehouse, [{"id": 1, "tier": "free"}, {"id": 2, "tier": "free"}], write="scd2", key=["id"]
    )
    changed = [{"id": 1, "tier": "pro"}, {"id": 2, "tier": "free"}]

    result = land(warehouse, changed, write="scd2", key=["id"])
    again = land(warehouse, changed, write="scd2", key=["id"])

    assert (result.inserted, result.updated, result.deleted) == (0, 1, 0)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert rows(warehouse, "SELECT id, tier FROM src.items WHERE _valid_to IS NOT NULL") == [
        (1, "free")
    ]
    assert rows(warehouse, "SELECT count(*) FROM src.items") == [(3,)]


def test_a_row_hash_column_in_the_data_is_refused(warehouse: Warehouse) -> None:
    with pytest.raises(BatchError, match="reserved for the platform: _row_hash"):
        land(warehouse, [{"id": 1, "_row_hash": 42}])


@pytest.mark.parametrize("write", ["merge", "scd2"])
def test_a_batch_into_an_existing_table_is_never_written_to_the_warehouse_file(
    warehouse: Warehouse, write: str
) -> None:
    """Only rows that land are written to the file: an unchanged reload adds a few blocks of
    bookkeeping (its load record), not another copy of the batch."""
    ids = range(200_000)
    batch = pa.table({"id": ids, "v": [f"{i * 7919 % 1_000_003:x}-{i}" for i in ids]})
    land(warehouse, batch, write=write, key=["id"])
    size = warehouse.file.stat().st_size

    again = land(warehouse, batch, write=write, key=["id"])

    assert (again.inserted, again.updated) == (0, 0)
    assert warehouse.file.stat().st_size - size < size / 2


def test_a_memory_limit_duckdb_refuses_is_refused_when_the_resource_is_built(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        ValueError, match=r"DuckDB refuses it: .*Memory must have a number"
    ) as error:
        Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path), memory_limit="lots")

    assert "memory_limit" in str(error.value) and "'lots'" in str(error.value)


def test_the_writer_runs_under_the_memory_limit(tmp_path: Path) -> None:
    warehouse = Warehouse(
        path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path), memory_limit="512MiB"
    )

    with warehouse.writer() as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == ("512.0 MiB",)


def test_staged_parts_that_disagree_on_a_type_land_in_the_wider_one(warehouse: Warehouse) -> None:
    """Pages of one batch follow the same ladder as loads: 5 then 2.5 is DOUBLE; then 'n/a' is
    VARCHAR, holding every value as text."""
    with warehouse.load("src", "items") as load:
        load.stage(
            [
                pa.table({"id": [1], "v": [5]}),
                pa.table({"id": [2], "v": [2.5]}),
                pa.table({"id": [3], "v": ["n/a"]}),
            ]
        )
        result = load.commit(WriteSpec("src", "items", "append"))

    assert result.rows_in == 3
    assert rows(warehouse, "SELECT id, v FROM src.items ORDER BY id") == [
        (1, "5.0"),
        (2, "2.5"),
        (3, "n/a"),
    ]


def test_merge_counts_the_rows_that_landed_and_those_a_later_duplicate_superseded(
    warehouse: Warehouse,
) -> None:
    """344 penguins of 3 species merged on `species`: 3 rows land; 341 were superseded by a
    later row of their species, and every count says so."""
    species = ["Adelie"] * 152 + ["Chinstrap"] * 68 + ["Gentoo"] * 124
    batch = [{"species": s, "n": i} for i, s in enumerate(species)]

    result = land(warehouse, batch, write="merge", key=["species"])

    assert rows(warehouse, "SELECT count(*) FROM src.items") == [(3,)]
    assert (result.rows_in, result.inserted, result.superseded) == (344, 3, 341)
    assert result.metadata()["rows_superseded"] == 341
    assert rows(
        warehouse,
        "SELECT rows_in, rows_inserted, rows_updated, rows_superseded FROM _tributary.loads",
    ) == [(344, 3, 0, 341)]

    again = land(warehouse, batch[:200], write="merge", key=["species"])
    assert (again.rows_in, again.inserted, again.updated, again.superseded) == (
        200,
        0,
        1,
        198,
    )  # Adelie unchanged


def test_a_warehouse_from_before_rows_superseded_gains_the_column(warehouse: Warehouse) -> None:
    warehouse.transaction(lambda con: con.execute("SELECT 1"))
    warehouse.transaction(
        lambda con: con.execute("ALTER TABLE _tributary.loads DROP COLUMN rows_superseded")
    )

    land(warehouse, [{"id": 1}, {"id": 1}], write="merge", key=["id"])

    assert rows(warehouse, "SELECT rows_in, rows_superseded FROM _tributary.loads") == [(2, 1)]


@pytest.mark.parametrize("write", ["merge", "scd2"])
@both_backends
def test_columns_absent_from_a_merge_batch_keep_their_stored_values(
    warehouse: Warehouse, write: str
) -> None:
    """A sparse batch (no `phone`) updates what it carries; a row it does not change is not
    counted, and a changed row keeps its phone."""
    current = "" if write == "merge" else " WHERE _valid_to IS NULL"
    land(
        warehouse,
        [{"id": 1, "name": "Ada", "phone": "555-1"}, {"id": 2, "name": "Bob", "phone": "555-2"}],
        write=write,
        key=["id"],
    )

    result = land(
        warehouse,
        [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Robert"}, {"id": 3, "name": "Cy"}],
        write=write,
        key=["id"],
    )

    assert (result.inserted, result.updated) == (1, 1)
    assert rows(warehouse, f"SELECT id, name, phone FROM src.items{current} ORDER BY id") == [
        (1, "Ada", "555-1"),
        (2, "Robert", "555-2"),
        (3, "Cy", None),
    ]
    again = land(
        warehouse,
        [{"id": 1, "name": "Ada", "phone": "555-1"}, {"id": 2, "name": "Robert", "phone": "555-2"}],
        write=write,
        key=["id"],
    )
    assert (again.inserted, again.updated) == (0, 0)  # the filled rows hash as whole rows


def test_a_column_present_and_null_sets_null(warehouse: Warehouse) -> None:
    """Absent is not null: a column the batch carries, all null (even typed NULL), sets NULL."""
    land(warehouse, [{"id": 1, "phone": "555-1"}], write="merge", key=["id"])

    result = land(warehouse, pa.table({"id": [1], "phone": pa.nulls(1)}), write="merge", key=["id"])

    assert result.updated == 1
    assert rows(warehouse, "SELECT id, phone FROM src.items") == [(1, None)]


@both_backends
def test_two_loads_of_the_same_file_version_at_once_read_it_once(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A file-arrival run and a scheduled run of one table may start together: each decides
    what to read holding the warehouse, after the other committed, so one lands the file and
    the other lands nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from resources.duckdb_sql import literal
    from resources.file_ledger import FileVersion

    path = tmp_path / "a.csv"
    path.write_text("id\n1\n2\n")

    def run() -> int:
        with warehouse.load("src", "items") as load:
            load.scan_files(
                lambda: [FileVersion.of("a.csv", path)],
                lambda chosen: (
                    f"SELECT *, 'a.csv' AS _source_file FROM read_csv("
                    f"[{', '.join(literal(str(v.path)) for v in chosen)}])"
                ),
            )
            return load.commit(WriteSpec("src", "items", "append")).rows_in

    with ThreadPoolExecutor(2) as pool:
        landed = sorted(pool.map(lambda _: run(), range(2)))

    assert landed == [0, 2]
    assert rows(warehouse, "SELECT id FROM src.items ORDER BY id") == [(1,), (2,)]
