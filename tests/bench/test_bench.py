"""The benchmarks time the work they claim to: each side does the same work, and the counts and
rows each load reports are checked, so that a ratio compares like with like."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

import bench.__main__ as file_bench
from bench import checks as checks_bench
from bench import generate
from bench import rest_api as rest_bench
from bench.measure import Measurement
from checks.gate import QualityGate
from checks.rules import compile_checks
from platform_assets.config.base import TableConfig


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The benchmark's inputs generated under `tmp_path`, not bench/.data."""
    monkeypatch.setattr(generate, "DATA", tmp_path / "data")
    monkeypatch.setattr(file_bench, "DATA", tmp_path / "data")
    return tmp_path / "data"


def test_the_next_snapshot_changes_one_row_in_ten_and_adds_one_in_twenty(data: Path) -> None:
    _, first = generate.ensure_inputs(1000)
    _, changed = generate.ensure_changed_inputs(1000)
    assert generate.snapshot(1000) == generate.Snapshot(rows=1000, changed=100, new=50)
    con = duckdb.connect()
    differ = con.execute(
        f"SELECT count(*) FILTER (WHERE f.id IS NULL), count(*) FILTER (WHERE f.id IS NOT NULL "
        f"AND (f.amount <> c.amount OR f.updated_at <> c.updated_at)) "
        f"FROM read_parquet('{changed}') c LEFT JOIN read_parquet('{first}') f USING (id)"
    ).fetchone()
    assert differ == (50, 100)
    described = [con.execute(f"DESCRIBE SELECT * FROM '{p}'").fetchall() for p in (first, changed)]
    assert described[0] == described[1], "the same column types: a merge, not a schema change"


def test_each_load_reports_and_holds_what_its_snapshot_implies(data: Path) -> None:
    """A merge's third load and an scd2's second update 10% and insert 5%; scd2 closes 10%."""
    timed = {t.label: t for t in file_bench.bench_files(1000, 1, ["parquet"])}
    merge = timed["parquet: merge, third load, 10% changed + 5% new"].runs[0][0].detail
    assert (merge["inserted"], merge["updated"]) == (50, 100)
    assert (
        merge["table"]
        == timed["parquet: DuckDB CREATE TABLE AS, next snapshot (1,050 rows)"]
        .runs[0][0]
        .detail["table"]
    )
    scd2 = timed["parquet: scd2, second load, 10% changed + 5% new"].runs[0][0].detail
    assert (scd2["inserted"], scd2["updated"], scd2["deleted"]) == (50, 100, 0)
    assert scd2["table"]["rows"] == 1050  # type: ignore[index]
    assert (scd2["table"]["versions"], scd2["table"]["closed"]) == (1150, 100)  # type: ignore[index]


def test_a_load_that_reports_other_counts_stops_the_benchmark() -> None:
    load = file_bench.LOADS[2]
    table = {"rows": 1050, "ids": 1050, "amount": "1", "updated_at": "2"}
    base = Measurement("ctas", 1.0, 1.0, {"table": table})
    counted = {"inserted": 50, "updated": 99, "deleted": 0, "table": table}
    with pytest.raises(AssertionError, match="updated"):
        file_bench._require(
            load, Measurement(load.name, 1.0, 1.0, counted), base, generate.snapshot(1000)
        )


def test_the_checks_baseline_finds_what_the_whole_gate_finds(data: Path) -> None:
    """Counts, five samples and every failing row's id, rule by rule, on rows that fail."""
    _, parquet = generate.ensure_inputs(20_000)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE orders AS {checks_bench.batch_sql(parquet)}")
    table = TableConfig.model_validate(
        {"name": "orders", "checks": checks_bench.CHECKS.model_dump(by_alias=True)}
        | {"on_fail": "quarantine_rows"}
    )
    verdict = QualityGate("bench", table, compile_checks(checks_bench.CHECKS))(con, "orders")
    gate = checks_bench.gate_found(verdict)
    hand = checks_bench.hand_written_sql(con)
    checks_bench._require_same(gate, hand, 20_000)
    assert {name: found.failures for name, found in hand.items()} == {
        name: len(range(remainder, 20_000, checks_bench.EVERY))
        for name, (_, remainder, _) in checks_bench._BROKEN.items()
    }
    assert all(len(found.row_ids) == found.failures for found in gate.values())


def test_the_rest_baseline_asks_for_every_page_once(tmp_path: Path) -> None:
    requests = rest_bench.Requests()
    server = rest_bench.serve(requests)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/records"
        landed, _, _ = rest_bench.baseline(url, tmp_path)
    finally:
        server.shutdown()
    assert requests.take() == Counter(range(1, rest_bench.PAGES + 1))
    assert landed == rest_bench.RECORDS
