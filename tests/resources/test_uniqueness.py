"""Counting null and repeated keys of a warehouse table."""

from __future__ import annotations

import duckdb

from resources.uniqueness import KeyCounts, key_counts


def test_a_single_column_key_counts_nulls_and_repeats() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1), (2), (2), (2), (NULL)) v(id)")

    assert key_counts(con, "t", ["id"]) == KeyCounts(rows=5, null_keys=1, repeats=2)


def test_a_compound_key_repeats_only_when_every_part_repeats() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM "
        "(VALUES ('a', 1), ('a', 2), ('b', 1), ('a', 1), ('b', NULL)) v(k, n)"
    )

    assert key_counts(con, "t", ["k", "n"]) == KeyCounts(rows=5, null_keys=1, repeats=1)
