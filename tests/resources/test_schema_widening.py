"""The writer widens a stored column along the type lattice: no stored or incoming value changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from resources.schema_evolution import SchemaPolicyError
from resources.warehouse import LoadResult, Warehouse
from resources.write_dispositions import WriteSpec
from tests.conftest import both_backends


def land(
    warehouse: Warehouse, *parts: pa.Table, write: str = "append", policy: str = "evolve"
) -> LoadResult:
    with warehouse.load("src", "items") as load:
        load.stage(iter(parts))
        spec = WriteSpec("src", "items", write, ("id",) if write == "merge" else ())
        return load.commit(WriteSpec(**{**spec.__dict__, "schema_policy": policy}))


def stored(warehouse: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with warehouse.read_only() as con:
        return con.execute(sql).fetchall()


def column_type(warehouse: Warehouse) -> str:
    found = stored(
        warehouse,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'items' AND column_name = 'v'",
    )
    return str(found[0][0])


def decimals(values: list[str], precision: int, scale: int) -> pa.Table:
    return pa.table({"v": pa.array([Decimal(v) for v in values], pa.decimal128(precision, scale))})


@both_backends
def test_a_stored_double_receiving_decimals_keeps_every_digit(warehouse: Warehouse) -> None:
    """Widened to DECIMAL(18,3), the stored 0.123456 would read 0.123 and 2.5e-7 0.000."""
    land(warehouse, pa.table({"v": [0.123456, 2.5e-7]}))

    result = land(warehouse, decimals(["123456789012345.678"], 18, 3))

    assert column_type(warehouse) == "VARCHAR"
    assert stored(warehouse, "SELECT v FROM src.items ORDER BY v") == [
        ("0.123456",),
        ("123456789012345.678",),
        ("2.5e-07",),
    ]
    assert stored(warehouse, "SELECT v::DOUBLE FROM src.items WHERE v LIKE '%e%' OR v < '1'") == [
        (0.123456,),
        (2.5e-7,),
    ]
    assert [c.describe() for c in result.schema_changes] == [
        "v: type DOUBLE -> VARCHAR (the batch brings DECIMAL(18,3))"
    ]


def test_a_stored_double_takes_decimals_a_double_holds_as_double(warehouse: Warehouse) -> None:
    land(warehouse, pa.table({"v": [0.123456, 2.5e-7]}))

    land(warehouse, decimals(["1.125"], 18, 3))

    assert column_type(warehouse) == "DOUBLE"
    assert stored(warehouse, "SELECT v FROM src.items ORDER BY v") == [
        (2.5e-7,),
        (0.123456,),
        (1.125,),
    ]


def test_an_integer_receiving_decimals_keeps_its_integer_digits(warehouse: Warehouse) -> None:
    """Widened to DECIMAL(4,2), the ALTER would fail on the stored 150."""
    land(warehouse, pa.table({"v": pa.array([150], pa.int32())}))

    land(warehouse, decimals(["1.25"], 4, 2))

    assert column_type(warehouse) == "DECIMAL(12,2)"
    assert stored(warehouse, "SELECT v FROM src.items ORDER BY v") == [
        (Decimal("1.25"),),
        (Decimal("150.00"),),
    ]


@pytest.mark.parametrize(
    ("incoming", "widened"),
    [
        (pa.array([2**64 - 1], pa.uint64()), "HUGEINT"),
        (decimals([str(2**100)], 38, 0).column("v"), "DECIMAL(38,0)"),
    ],
    ids=["UBIGINT", "HUGEINT-wide decimal"],
)
@both_backends
def test_a_bigint_widens_for_larger_integers_instead_of_overflowing(
    warehouse: Warehouse, incoming: pa.Array, widened: str
) -> None:
    land(warehouse, pa.table({"v": pa.array([-5], pa.int64())}))

    land(warehouse, pa.table({"v": incoming}))

    assert column_type(warehouse) == widened
    assert [int(row[0]) for row in stored(warehouse, "SELECT v FROM src.items ORDER BY v")] == [
        -5,
        int(incoming[0].as_py()),
    ]


def test_a_frozen_table_refuses_a_wider_type_naming_column_and_both_types(
    warehouse: Warehouse,
) -> None:
    land(warehouse, pa.table({"v": pa.array([1], pa.int64())}))

    with pytest.raises(
        SchemaPolicyError, match=r"v: type BIGINT -> HUGEINT \(the batch brings UBIGINT\)"
    ):
        land(warehouse, pa.table({"v": pa.array([2**64 - 1], pa.uint64())}), policy="freeze")

    assert stored(warehouse, "SELECT v FROM src.items") == [(1,)]


def test_staged_parts_of_one_batch_join_along_the_lattice(warehouse: Warehouse) -> None:
    """A part's type never narrows what an earlier part staged (the same join as loads)."""
    land(
        warehouse,
        pa.table({"v": [0.123456]}),
        decimals(["123456789012345.678"], 18, 3),
        pa.table({"v": pa.array([2**64 - 1], pa.uint64())}),
    )

    assert column_type(warehouse) == "VARCHAR"
    assert sorted(row[0] for row in stored(warehouse, "SELECT v FROM src.items")) == [
        "0.123456",
        "123456789012345.678",
        "18446744073709551615",
    ]


def test_a_part_of_nulls_only_takes_its_type_from_a_later_part(warehouse: Warehouse) -> None:
    land(
        warehouse,
        pa.table({"id": [1], "v": pa.array([None], pa.null())}),
        pa.table({"id": [2], "v": pa.array([True])}),
    )

    assert column_type(warehouse) == "BOOLEAN"
    assert stored(warehouse, "SELECT id, v FROM src.items ORDER BY id") == [(1, None), (2, True)]


@both_backends
def test_a_batch_of_nulls_only_sets_a_merged_value_to_null_in_its_stored_type(
    warehouse: Warehouse,
) -> None:
    land(warehouse, pa.table({"id": [1], "v": pa.array([7], pa.int16())}), write="merge")

    result = land(
        warehouse,
        pa.table({"id": [1], "v": pa.array([None], pa.null())}),
        write="merge",
        policy="freeze",
    )

    assert result.schema_changes == []
    assert column_type(warehouse) == "SMALLINT"
    assert stored(warehouse, "SELECT id, v FROM src.items") == [(1, None)]


def test_a_batch_of_nulls_only_creates_no_column(warehouse: Warehouse) -> None:
    land(warehouse, pa.table({"id": [1], "v": pa.array([None], pa.null())}))

    assert [row[0] for row in stored(warehouse, "DESCRIBE src.items")][:1] == ["id"]
    assert "v" not in [row[0] for row in stored(warehouse, "DESCRIBE src.items")]
