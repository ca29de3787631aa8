"""File sources through Dagster: every format lands, and a bad file changes nothing."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import Project

CUSTOMERS_CSV = """
    id,name,amount
    1,Ada,1.50
    2,Ben,2.25
    3,Chloe,
"""


def test_csv_lands_with_lineage_columns(project: Project) -> None:
    project.file("in/customers.csv", CUSTOMERS_CSV)
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables: [{name: customers, path: in/customers.csv}]
    """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT id, name, amount FROM crm.customers ORDER BY id") == [
        (1, "Ada", 1.5),
        (2, "Ben", 2.25),
        (3, "Chloe", None),
    ]
    load_id, source, source_file = project.query(
        "SELECT DISTINCT _load_id, _source, _source_file FROM crm.customers"
    )[0]
    assert (source, source_file) == ("crm", "in/customers.csv")
    assert (
        project.scalar(
            f"SELECT rows_in FROM _tributary.loads WHERE load_id = '{load_id}' "
            "AND status = 'succeeded'"
        )
        == 3
    )


def test_every_format_lands(project: Project) -> None:
    project.file("in/a.tsv", "id\tword\n1\tone\n2\ttwo\n")
    project.file("in/b.json", '[{"id": 1, "tags": ["x"]}, {"id": 2, "tags": []}]')
    project.file("in/c.jsonl", '{"id": 1, "v": {"k": 1}}\n{"id": 2, "v": {"k": 2}}\n')
    pq.write_table(
        pa.table({"id": [1, 2, 3], "price": [1.0, 2.0, 3.0]}), project.root / "in/d.parquet"
    )
    project.file("in/e.csv.gz", gzip.compress(b"id;label\n1;NA\n2;b\n"))
    project.source(
        "mixed",
        """
        name: mixed
        kind: files
        tables:
          - {name: tsv, path: in/a.tsv}
          - {name: json_array, path: in/b.json}
          - {name: json_lines, path: in/c.jsonl}
          - {name: parquet, path: in/d.parquet}
          - {name: gzipped, path: in/e.csv.gz, delimiter: ";", null_strings: [NA],
             columns: {id: INTEGER}}
    """,
    )

    report = project.run()

    assert report.success, report.failures
    counts = {t["table"]: t["rows_in"] for t in report.tables}
    assert counts == {
        "mixed.tsv": 2,
        "mixed.json_array": 2,
        "mixed.json_lines": 2,
        "mixed.parquet": 3,
        "mixed.gzipped": 2,
    }
    assert project.query("SELECT id, label FROM mixed.gzipped ORDER BY id") == [(1, None), (2, "b")]
    assert project.scalar("SELECT typeof(id) FROM mixed.gzipped LIMIT 1") == "INTEGER"
    assert project.scalar("SELECT v.k FROM mixed.json_lines WHERE id = 2") == 2


def test_a_glob_of_files_is_one_table_with_the_source_file(project: Project) -> None:
    project.file("in/orders-01.csv", "id,total\n1,10\n2,20\n")
    project.file("in/orders-02.csv", "id,total\n3,30\n")
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tables: [{name: orders, path: "in/orders-*.csv"}]
    """,
    )

    assert project.run().success

    assert project.query(
        "SELECT _source_file, count(*) FROM shop.orders GROUP BY 1 ORDER BY 1"
    ) == [("in/orders-01.csv", 2), ("in/orders-02.csv", 1)]


@pytest.mark.parametrize("policy", ["evolve", "freeze"])
def test_rows_keep_the_file_they_came_from_as_new_files_arrive(
    project: Project, policy: str
) -> None:
    """`_source_file` is lineage, not data: the same row in a new file is no update, and a new
    file is no schema change, even for a frozen table."""
    project.file("in/day-1.csv", "id,total\n1,10\n2,20\n")
    project.source(
        "shop",
        f"""
        name: shop
        kind: files
        tables: [{{name: orders, path: "in/day-*.csv", write: merge, primary_key: id,
                   schema_policy: {policy}}}]
    """,
    )
    assert project.run().success
    (project.root / "in/day-1.csv").unlink()
    project.file("in/day-2.csv", "id,total\n2,20\n3,30\n")

    report = project.run()

    assert report.success, report.failures
    assert (report.tables[0]["rows_inserted"], report.tables[0]["rows_updated"]) == (1, 0)
    assert project.query("SELECT id, total, _source_file FROM shop.orders ORDER BY id") == [
        (1, 10, "in/day-1.csv"),
        (2, 20, "in/day-1.csv"),
        (3, 30, "in/day-2.csv"),
    ]
    assert project.scalar("SELECT count(*) FROM _tributary.schema_changes") == 0
    project.file("in/day-3.csv", "id,total\n4,40\n")
    assert project.run().success
    assert project.scalar("SELECT _source_file FROM shop.orders WHERE id = 4") == "in/day-3.csv"


def first_load(project: Project) -> None:
    project.file("in/customers.csv", CUSTOMERS_CSV)
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables: [{name: customers, path: in/customers.csv, columns: {amount: DOUBLE}}]
    """,
    )
    assert project.run().success


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "id,name,amount\n1,Ada,1.5\n2,Ben,2.5,9\n",
            ["CSV Error on Line: 3", "Expected Number of Columns: 3 Found: 4"],
            id="wrong column count",
        ),
        pytest.param(
            "id,name,amount\n1,Ada,1.5\n2,Ben,lots\n",
            ["CSV Error on Line: 3", 'Could not convert string "lots"'],
            id="bad type",
        ),
    ],
)
def test_a_malformed_csv_fails_naming_source_file_and_line_and_keeps_the_table(
    project: Project, content: str, message: list[str]
) -> None:
    first_load(project)
    before = project.query("SELECT * FROM crm.customers ORDER BY id")
    project.file("in/customers.csv", content)

    report = project.run()

    assert not report.success
    (failure,) = report.failures
    assert failure.startswith("source 'crm', table 'customers': ")
    assert "\n" not in failure and message[0] in failure and "customers.csv" in failure
    details = project.scalar("SELECT error FROM _tributary.loads WHERE status = 'failed'")
    assert "customers.csv" in details
    for fragment in message:
        assert fragment in details
    assert project.query("SELECT * FROM crm.customers ORDER BY id") == before


def test_a_table_that_fails_does_not_stop_the_other_tables_of_its_source(
    project: Project,
) -> None:
    project.file("in/events.jsonl", '{"id": 1}\n{"id": 2\n')
    project.file("in/users.csv", "id,name\n1,Ada\n")
    project.source(
        "app",
        """
        name: app
        kind: files
        tables:
          - {name: events, path: in/events.jsonl}
          - {name: users, path: in/users.csv}
    """,
    )

    report = project.run()

    assert not report.success
    (failure,) = report.failures
    assert failure.startswith("source 'app', table 'events': ") and "events.jsonl" in failure
    assert project.query("SELECT id, name FROM app.users") == [(1, "Ada")]


def test_broken_json_lines_fail_naming_file_and_line(project: Project) -> None:
    project.file("in/events.jsonl", '{"id": 1}\n{"id": 2\n{"id": 3}\n')
    project.source(
        "app",
        """
        name: app
        kind: files
        tables: [{name: events, path: in/events.jsonl}]
    """,
    )

    report = project.run()

    assert not report.success
    error = project.scalar("SELECT error FROM _tributary.loads WHERE status = 'failed'")
    assert error.startswith("source 'app', table 'events': ")
    assert (
        'Malformed JSON in file "' in error and "events.jsonl" in error and "in line 3" in error
    )  # where the unclosed record meets the next
    assert (
        project.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'app'")
        == 0
    )


@pytest.mark.parametrize("path", ["in/missing.csv", "in/none-*.csv"])
def test_a_missing_file_or_empty_glob_is_an_error_not_an_empty_table(
    project: Project, path: str
) -> None:
    first_load(project)
    project.source(
        "crm",
        f"""
        name: crm
        kind: files
        tables: [{{name: customers, path: "{path}"}}]
    """,
    )

    report = project.run()

    assert not report.success
    assert f"no file matches '{path}'" in report.failures[0]
    assert project.scalar("SELECT count(*) FROM crm.customers") == 3


def test_a_declared_column_missing_from_the_file_is_named(project: Project) -> None:
    project.file("in/customers.csv", CUSTOMERS_CSV)
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables: [{name: customers, path: in/customers.csv, columns: {price: DOUBLE}}]
    """,
    )

    report = project.run()

    assert "columns: price not found in the file(s)" in report.failures[0]


def test_running_twice_gives_the_same_table(project: Project) -> None:
    project.file("in/customers.csv", CUSTOMERS_CSV)
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables: [{name: customers, path: in/customers.csv, primary_key: id, write: merge}]
    """,
    )
    project.run()
    first = project.query("SELECT * EXCLUDE (_load_id, _loaded_at) FROM crm.customers ORDER BY id")

    report = project.run()

    assert report.tables[0]["rows_inserted"] == 0
    assert report.tables[0]["rows_updated"] == 0
    second = project.query("SELECT * EXCLUDE (_load_id, _loaded_at) FROM crm.customers ORDER BY id")
    assert second == first


def test_declared_column_types_take_any_spelling_duckdb_knows(project: Project) -> None:
    project.file("in/scores.csv", "id,score,tags\n1,2.5,x\n")
    project.source(
        "games",
        """
        name: games
        kind: files
        tables:
          - {name: scores, path: in/scores.csv, columns: {id: int, score: "decimal(4, 1)"}}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'scores' AND column_name IN ('id', 'score') ORDER BY column_name"
    ) == [("id", "INTEGER"), ("score", "DECIMAL(4,1)")]


def test_files_whose_header_gained_a_column_land_in_one_table(project: Project) -> None:
    """Each run of files with one header is read as strictly as any; the column a file lacks is
    null in its rows, and the latest file still wins a key."""
    project.file("in/day-1.csv", "id,total\n1,10\n2,20\n")
    project.file("in/day-2.csv", "id,total,note\n2,25,late\n")
    project.file("in/day-3.csv", "id,total\n2,30\n3,30.5\n")
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tables: [{name: orders, path: "in/day-*.csv", primary_key: id, write: merge}]
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT id, total, note, _source_file FROM shop.orders ORDER BY id") == [
        (1, 10.0, None, "in/day-1.csv"),
        (2, 30.0, None, "in/day-3.csv"),
        (3, 30.5, None, "in/day-3.csv"),
    ]


def test_parquet_files_whose_schema_grew_lose_no_column_and_no_precision(
    project: Project,
) -> None:
    (project.root / "in").mkdir(exist_ok=True)
    pq.write_table(pa.table({"id": [1], "total": [10]}), project.root / "in/p-1.parquet")
    pq.write_table(
        pa.table({"id": [2], "total": [20.5], "note": ["late"]}), project.root / "in/p-2.parquet"
    )
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tables: [{name: orders, path: "in/p-*.parquet"}]
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT id, total, note FROM shop.orders ORDER BY id") == [
        (1, 10.0, None),
        (2, 20.5, "late"),
    ]


MONTHS = {
    "in/2026-01.csv": "amount,zip\n10,10115\n20,10115\n",
    "in/2026-02.csv": "amount,zip\n12.5,01067\n",
}


def _monthly_source(project: Project, write: str = "append", policy: str = "evolve") -> None:
    project.source(
        "sales",
        f"""
        name: sales
        kind: files
        tables: [{{name: orders, path: "in/2026-*.csv", write: {write},
                   schema_policy: {policy}}}]
        """,
    )


def test_every_file_of_a_glob_types_its_columns(project: Project) -> None:
    """The first file alone would type amount as an integer and zip as a number: 12.5 would
    land as 13 and 01067 as 1067."""
    for path, text in MONTHS.items():
        project.file(path, text)
    _monthly_source(project)

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT amount, zip FROM sales.orders ORDER BY amount") == [
        (10.0, "10115"),
        (12.5, "01067"),
        (20.0, "10115"),
    ]


def test_a_later_file_widens_the_stored_columns_in_a_later_load(project: Project) -> None:
    project.file("in/2026-01.csv", MONTHS["in/2026-01.csv"])
    _monthly_source(project)
    assert project.run().success
    project.file("in/2026-02.csv", MONTHS["in/2026-02.csv"])
    (project.root / "in/2026-01.csv").unlink()

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT amount, zip FROM sales.orders ORDER BY amount") == [
        (10.0, "10115"),
        (12.5, "01067"),
        (20.0, "10115"),
    ]
    assert project.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'orders' AND column_name IN ('amount', 'zip') ORDER BY 1"
    ) == [("amount", "DOUBLE"), ("zip", "VARCHAR")]


def test_a_file_that_does_not_fit_a_frozen_table_fails_naming_file_line_and_column(
    project: Project,
) -> None:
    project.file("in/2026-01.csv", MONTHS["in/2026-01.csv"])
    _monthly_source(project, policy="freeze")
    assert project.run().success
    project.file("in/2026-02.csv", "amount,zip\n11,10115\n12.5,10115\n")
    (project.root / "in/2026-01.csv").unlink()

    report = project.run()

    assert not report.success
    failure = " ".join(report.failures)
    assert "2026-02.csv, line 3: column 'amount' holds '12.5'" in failure
    assert project.scalar("SELECT count(*) FROM sales.orders") == 2


@pytest.mark.parametrize(
    ("text", "expected_type", "expected"),
    [
        ("id\n18446744073709551615\n5\n", "UBIGINT", [5, 18446744073709551615]),
        ("id\n-5\n18446744073709551615\n", "HUGEINT", [-5, 18446744073709551615]),
        (
            "id\n5\n340282366920938463463374607431768211456\n",
            "VARCHAR",
            ["340282366920938463463374607431768211456", "5"],
        ),
        (
            "id\n1.2345678901234567890\n2.5\n",
            "DECIMAL(20,19)",
            [Decimal("1.2345678901234567890"), Decimal("2.5")],
        ),
        ("id\n1.5e300\n12345678901234567890\n", "VARCHAR", ["1.5e300", "12345678901234567890"]),
    ],
    ids=["beyond BIGINT", "beyond BIGINT with negatives", "beyond 128 bits", "20 digits", "mixed"],
)
def test_wide_numbers_in_a_csv_land_exactly_never_as_floats(
    project: Project, text: str, expected_type: str, expected: list[object]
) -> None:
    project.file("in/ids.csv", text)
    project.source("wide", "name: wide\nkind: files\ntables: [{name: ids, path: in/ids.csv}]\n")

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT typeof(id) FROM wide.ids LIMIT 1") == expected_type
    assert [row[0] for row in project.query("SELECT id FROM wide.ids ORDER BY id")] == expected


def test_json_lines_files_land_every_key_whatever_file_brings_it(project: Project) -> None:
    for n in range(1, 41):
        line = {"a": n} if n < 40 else {"a": n, "b": "new"}
        project.file(f"in/part-{n:02}.jsonl", json.dumps(line) + "\n")
    project.source(
        "events", "name: events\nkind: files\ntables: [{name: e, path: in/part-*.jsonl}]\n"
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT a, b FROM events.e WHERE b IS NOT NULL") == [(40, "new")]
    assert project.scalar("SELECT count(*) FROM events.e") == 40


def test_json_files_land_every_key_whatever_file_brings_it(project: Project) -> None:
    for n in range(1, 41):
        record = {"a": n} if n < 40 else {"a": n, "b": 1.5}
        project.file(f"in/part-{n:02}.json", json.dumps([record]))
    project.source(
        "events", "name: events\nkind: files\ntables: [{name: e, path: in/part-*.json}]\n"
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT a, b FROM events.e WHERE b IS NOT NULL") == [(40, 1.5)]


def test_a_header_only_csv_allowed_empty_creates_the_empty_table(project: Project) -> None:
    project.file("in/empty.csv", "foo,bar\n")
    project.source(
        "shop",
        """
        name: shop
        kind: files
        tables: [{name: things, path: in/empty.csv, allow_empty: true,
                  columns: {bar: INTEGER}}]
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT count(*) FROM shop.things") == 0
    assert project.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'things' AND column_name IN ('foo', 'bar') ORDER BY 1"
    ) == [("bar", "INTEGER"), ("foo", "VARCHAR")]


def test_parquet_files_that_disagree_on_a_type_land_every_value_exactly(project: Project) -> None:
    """DuckDB's own union makes BIGINT and DOUBLE a DOUBLE: 2^53 + 1 would land as 2^53."""
    (project.root / "in").mkdir(exist_ok=True)
    pq.write_table(
        pa.table({"v": pa.array([2**53 + 1], pa.int64())}), project.root / "in/a.parquet"
    )
    pq.write_table(pa.table({"v": pa.array([0.5])}), project.root / "in/b.parquet")
    pq.write_table(pa.table({"v": pa.array([7], pa.int64())}), project.root / "in/c.parquet")
    project.source("p", "name: p\nkind: files\ntables: [{name: t, path: in/*.parquet}]\n")

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT typeof(v) FROM p.t LIMIT 1") == "VARCHAR"
    assert sorted(row[0] for row in project.query("SELECT v FROM p.t")) == [
        "0.5",
        "7",
        "9007199254740993",
    ]


def test_json_lines_files_that_disagree_on_a_type_land_every_value_exactly(
    project: Project,
) -> None:
    project.file("in/a.jsonl", '{"v": 9007199254740993}\n')
    project.file("in/b.jsonl", '{"v": 0.5}\n')
    project.file("in/c.jsonl", '{"v": 2}\n')
    project.source("j", "name: j\nkind: files\ntables: [{name: t, path: in/*.jsonl}]\n")

    report = project.run()

    assert report.success, report.failures
    assert sorted(row[0] for row in project.query("SELECT v FROM j.t")) == [
        "0.5",
        "2",
        "9007199254740993",
    ]


def test_parquet_files_whose_integers_fit_a_double_widen_to_double(project: Project) -> None:
    (project.root / "in").mkdir(exist_ok=True)
    pq.write_table(pa.table({"v": pa.array([10], pa.int64())}), project.root / "in/a.parquet")
    pq.write_table(pa.table({"v": pa.array([0.5])}), project.root / "in/b.parquet")
    project.source("p", "name: p\nkind: files\ntables: [{name: t, path: in/*.parquet}]\n")

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT v FROM p.t ORDER BY v") == [(0.5,), (10.0,)]


def test_a_stored_bigint_widens_for_a_later_file_of_wider_integers(project: Project) -> None:
    project.file("in/ids-1.csv", "id\n5\n")
    project.source(
        "wide",
        "name: wide\nkind: files\ntables: [{name: ids, path: in/ids-*.csv, write: append}]\n",
    )
    assert project.run().success
    project.file("in/ids-2.csv", "id\n18446744073709551615\n")

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT typeof(id) FROM wide.ids LIMIT 1") == "HUGEINT"
    assert [row[0] for row in project.query("SELECT id FROM wide.ids ORDER BY id")] == [
        5,
        18446744073709551615,
    ]


def test_a_file_whose_column_is_empty_does_not_type_it(project: Project) -> None:
    """DuckDB calls a column of empty values VARCHAR; nulls are no evidence of a type."""
    project.file("in/a.csv", "id,amount\n1,\n2,\n")
    project.file("in/b.csv", "id,amount\n3,12.5\n")
    project.source("s", "name: s\nkind: files\ntables: [{name: t, path: in/*.csv}]\n")

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT typeof(amount) FROM s.t LIMIT 1") == "DOUBLE"
    assert project.query("SELECT id, amount FROM s.t ORDER BY id") == [
        (1, None),
        (2, None),
        (3, 12.5),
    ]


def test_a_json_integer_beyond_64_bits_lands_exactly(project: Project) -> None:
    project.file("in/ids.jsonl", '{"id": 14933243513335727983}\n{"id": 5}\n')
    project.source("j", "name: j\nkind: files\ntables: [{name: ids, path: in/ids.jsonl}]\n")

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT id FROM j.ids ORDER BY id") == [(5,), (14933243513335727983,)]
