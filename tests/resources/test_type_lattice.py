"""The type lattice: a widened column holds every stored and every incoming value exactly."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.schema_evolution import joined_type
from resources.type_lattice import VARCHAR, canonical, is_null_type, join, value_join


def _integers(low: int, high: int) -> st.SearchStrategy[str]:
    edges = st.sampled_from([low, high, 0 if low <= 0 else low, 2**53, 2**53 + 1, -(2**53) - 1])
    return st.one_of(st.integers(low, high), edges.filter(lambda v: low <= v <= high)).map(str)


def _decimals(precision: int, scale: int) -> st.SearchStrategy[str]:
    """Decimals of `precision` digits, `scale` after the point (drawn as integers: Python's
    decimal context keeps only 28 digits)."""

    def text(unscaled: int) -> str:
        digits = str(abs(unscaled)).rjust(scale + 1, "0")
        sign = "-" if unscaled < 0 else ""
        return f"'{sign}{digits[: len(digits) - scale]}.{digits[len(digits) - scale :]}'"

    return st.integers(-(10**precision) + 1, 10**precision - 1).map(text)


def _floats(width: int) -> st.SearchStrategy[str]:
    return st.floats(allow_nan=False, width=width).map(lambda f: f"'{f!r}'")  # type: ignore[arg-type]


def _timestamps(low: dt.datetime, high: dt.datetime) -> st.SearchStrategy[str]:
    return st.datetimes(min_value=low, max_value=high).map(lambda t: f"'{t.isoformat(' ')}'")


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)

VALUES: dict[str, st.SearchStrategy[str]] = {
    "TINYINT": _integers(-(2**7), 2**7 - 1),
    "UTINYINT": _integers(0, 2**8 - 1),
    "SMALLINT": _integers(-(2**15), 2**15 - 1),
    "USMALLINT": _integers(0, 2**16 - 1),
    "INTEGER": _integers(-(2**31), 2**31 - 1),
    "UINTEGER": _integers(0, 2**32 - 1),
    "BIGINT": _integers(-(2**63), 2**63 - 1),
    "UBIGINT": _integers(0, 2**64 - 1),
    "HUGEINT": _integers(-(2**127), 2**127 - 1),
    "UHUGEINT": _integers(0, 2**128 - 1),
    "DECIMAL(4,2)": _decimals(4, 2),
    "DECIMAL(18,3)": _decimals(18, 3),
    "DECIMAL(38,10)": _decimals(38, 10),
    "FLOAT": _floats(32),
    "DOUBLE": _floats(64),
    "DATE": st.dates().map(lambda d: f"'{d.isoformat()}'"),
    "TIMESTAMP": _timestamps(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),
    "TIMESTAMP_S": _timestamps(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),
    "TIMESTAMP_MS": _timestamps(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),
    "TIMESTAMP_NS": _timestamps(dt.datetime(1678, 1, 1), dt.datetime(2261, 12, 31)),
    "TIMESTAMP WITH TIME ZONE": _timestamps(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)).map(
        lambda t: t[:-1] + "+00'"
    ),
    "BOOLEAN": st.booleans().map(str),
    "VARCHAR": _TEXT.map(lambda s: "'" + s.replace("'", "''") + "'"),
    "INTEGER[]": st.lists(_integers(-(2**31), 2**31 - 1), max_size=3).map(
        lambda v: "[" + ", ".join(v) + "]"
    ),
    "DOUBLE[]": st.lists(_floats(64), max_size=3).map(lambda v: "[" + ", ".join(v) + "]"),
    "STRUCT(a INTEGER, b VARCHAR)": st.tuples(
        _integers(-(2**31), 2**31 - 1), _TEXT.map(lambda s: "'" + s.replace("'", "''") + "'")
    ).map(lambda ab: f"{{'a': {ab[0]}, 'b': {ab[1]}}}"),
    '"NULL"': st.just("NULL"),
}
TYPES = list(VALUES)
PAIRS = list(itertools.product(TYPES, TYPES))
STORED_PAIRS = [(a, b) for a, b in PAIRS if not is_null_type(a)]
"""No stored column has the NULL type: nulls alone create no column."""


def _as(kind: str, widened: str) -> str:
    """The widened `v` cast back to `kind` (DuckDB casts between timestamp precisions only via
    TIMESTAMP)."""
    timestamps = ("TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP", "TIMESTAMP_NS")
    if kind in timestamps and canonical(widened) in timestamps:
        return f"CAST(v::TIMESTAMP AS {kind})"
    return f"CAST(v AS {kind})"


def _widen_as_the_writer_does(
    con: duckdb.DuckDBPyConnection,
    stored_type: str,
    stored: list[str],
    incoming_type: str,
    incoming: list[str],
) -> tuple[str, list[Any], list[Any]]:
    """Store values of one type, widen the column for a batch of another (ALTER ... TYPE, as the
    writer does), append the batch. Returns the column's type, and every value as text in its own
    type: as it was, and as read back from the widened column cast to its own type."""
    # A batch column of nulls only lands as null in the stored type (see with_null_columns).
    batch_type = stored_type if is_null_type(incoming_type) else incoming_type
    con.execute("DROP TABLE IF EXISTS stored; DROP TABLE IF EXISTS batch")
    con.execute(f"CREATE TABLE stored (n INTEGER, v {stored_type})")
    con.execute(f"CREATE TABLE batch (n INTEGER, v {batch_type})")
    rows = [("stored", stored_type, v) for v in stored] + [
        ("batch", batch_type, v) for v in incoming
    ]
    for n, (table, kind, value) in enumerate(rows):
        con.execute(f"INSERT INTO {table} VALUES ({n}, CAST({value} AS {kind}))")
    originals = con.execute(
        "SELECT n, v::VARCHAR FROM stored UNION ALL SELECT n, v::VARCHAR FROM batch ORDER BY n"
    ).fetchall()
    widened = joined_type(con, "v", (stored_type, "stored"), (incoming_type, "batch"))
    if widened != canonical(stored_type):
        con.execute(f"ALTER TABLE stored ALTER COLUMN v TYPE {widened}")
    con.execute("INSERT INTO stored SELECT n, v FROM batch")
    back = con.execute(
        f"SELECT n, CASE WHEN n < {len(stored)} THEN {_as(stored_type, widened)}::VARCHAR "
        f"ELSE {_as(batch_type, widened)}::VARCHAR END FROM stored ORDER BY n"
    ).fetchall()
    return widened, originals, back


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_pair_of_types_widens_without_changing_a_value(
    con: duckdb.DuckDBPyConnection, data: st.DataObject
) -> None:
    stored_type, incoming_type = data.draw(st.sampled_from(STORED_PAIRS))
    stored = data.draw(st.lists(VALUES[stored_type], min_size=1, max_size=3))
    incoming = data.draw(st.lists(VALUES[incoming_type], min_size=1, max_size=3))

    widened, originals, back = _widen_as_the_writer_does(
        con, stored_type, stored, incoming_type, incoming
    )

    assert back == originals, f"{stored_type} joined with {incoming_type} -> {widened}"


@pytest.mark.parametrize(("a", "b"), [(a, b) for a, b in PAIRS if a < b])
def test_the_join_is_symmetric_and_holds_both_types(a: str, b: str) -> None:
    joined = join(a, b)

    assert joined == join(b, a)
    assert join(joined, a) == joined or is_null_type(a)
    assert join(joined, b) == joined or is_null_type(b)


@pytest.mark.parametrize(
    ("stored", "incoming", "widened"),
    [
        ("INTEGER", "UINTEGER", "BIGINT"),
        ("BIGINT", "UBIGINT", "HUGEINT"),
        ("BIGINT", "HUGEINT", "HUGEINT"),
        ("HUGEINT", "UBIGINT", "HUGEINT"),
        ("UTINYINT", "TINYINT", "SMALLINT"),
        ("UHUGEINT", "HUGEINT", VARCHAR),
        ("INTEGER", "DECIMAL(4,2)", "DECIMAL(12,2)"),
        ("BIGINT", "DECIMAL(18,3)", "DECIMAL(22,3)"),
        ("DECIMAL(38,10)", "DECIMAL(18,12)", VARCHAR),
        ("DOUBLE", "DECIMAL(18,3)", VARCHAR),
        ("DOUBLE", "DECIMAL(15,3)", "DOUBLE"),
        ("FLOAT", "SMALLINT", "FLOAT"),
        ("FLOAT", "INTEGER", "DOUBLE"),
        ("BIGINT", "DOUBLE", VARCHAR),
        ("DATE", "TIMESTAMP", VARCHAR),
        ("TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_MS"),
        ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", VARCHAR),
        ("BOOLEAN", "INTEGER", VARCHAR),
        ("INTEGER[]", "DOUBLE[]", "DOUBLE[]"),
        ("STRUCT(a INTEGER)", "STRUCT(a BIGINT, b VARCHAR)", "STRUCT(a BIGINT, b VARCHAR)"),
        ('"NULL"', "DATE", "DATE"),
    ],
)
def test_the_lattice_by_type(stored: str, incoming: str, widened: str) -> None:
    """The joins of docs/catalog.md's table, by type alone (see value_join for the rest)."""
    assert join(stored, incoming) == widened


@pytest.mark.parametrize(
    ("stored", "incoming", "candidate"),
    [
        ("BIGINT", "DOUBLE", "DOUBLE"),
        ("UBIGINT", "FLOAT", "DOUBLE"),
        ("DATE", "TIMESTAMP", "TIMESTAMP"),
        ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_NS"),
        ("DOUBLE", "DECIMAL(18,3)", "DOUBLE"),
        ("UHUGEINT", "HUGEINT", "HUGEINT"),
        ("BOOLEAN", "INTEGER", None),
    ],
)
def test_joins_that_hold_by_value(stored: str, incoming: str, candidate: str | None) -> None:
    assert value_join(stored, incoming) == candidate


def _stored_then(
    con: duckdb.DuckDBPyConnection, stored: str, values: str, incoming: str, batch: str
) -> str:
    con.execute("DROP TABLE IF EXISTS stored; DROP TABLE IF EXISTS batch")
    con.execute(
        f"CREATE TABLE stored AS SELECT CAST(v AS {stored}) AS v FROM (VALUES {values}) t(v)"
    )
    con.execute(
        f"CREATE TABLE batch AS SELECT CAST(v AS {incoming}) AS v FROM (VALUES {batch}) t(v)"
    )
    return joined_type(con, "v", (stored, "stored"), (incoming, "batch"))


def test_a_stored_double_receiving_decimals_keeps_its_digits(
    con: duckdb.DuckDBPyConnection,
) -> None:
    widened = _stored_then(con, "DOUBLE", "(0.123456), (2.5e-7)", "DECIMAL(18,3)", "(1.5)")

    con.execute(f"ALTER TABLE stored ALTER COLUMN v TYPE {widened}")
    assert con.execute("SELECT v::DOUBLE FROM stored").fetchall() == [(0.123456,), (2.5e-7,)]


def test_a_stored_bigint_takes_doubles_as_double_while_its_integers_fit(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert _stored_then(con, "BIGINT", "(10), (20)", "DOUBLE", "(12.5)") == "DOUBLE"
    assert _stored_then(con, "BIGINT", f"({2**53 + 1})", "DOUBLE", "(12.5)") == VARCHAR


def test_dates_beyond_the_timestamp_years_widen_to_text(con: duckdb.DuckDBPyConnection) -> None:
    assert _stored_then(con, "DATE", "('2020-01-01')", "TIMESTAMP", "('2021-01-01')") == (
        "TIMESTAMP"
    )
    assert _stored_then(con, "DATE", "('5000000-01-01')", "TIMESTAMP", "('2021-01-01')") == (
        VARCHAR
    )
