"""Draining a stream table into the warehouse, against the machine's Redis and NATS: rows, dead
letters and the position in one commit, then the ack; replays land once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from checks.gate import QualityGate
from checks.rules import compile_checks
from platform_assets.stream_kind.brokers import OPENERS
from platform_assets.stream_kind.config import StreamSource
from platform_assets.stream_kind.drain import DrainResult, drain
from resources.streams.base import Message
from resources.warehouse import Warehouse
from tests.streams import (
    NATS_URL,
    REDIS_URL,
    nats_publish,
    nats_stream,
    redis_publish,
    redis_stream,
)

BROKERS = ("redis", "nats")


@contextmanager
def stream_of(kind: str) -> Iterator[tuple[dict[str, Any], str, Any]]:
    """(broker settings, the table's stream, publish(payloads)) on a fresh stream."""
    if kind == "redis":
        with redis_stream() as name:
            yield {"type": "redis", "url": REDIS_URL}, name, lambda p: redis_publish(name, p)
    else:
        with nats_stream() as name:
            subject = f"{name}.signals"
            settings = {"type": "nats", "url": NATS_URL, "ack_wait": "2s"}
            yield settings, subject, lambda p: nats_publish(subject, p)


def source_of(broker: dict[str, Any], stream: str, **table: Any) -> StreamSource:
    return StreamSource.model_validate(
        {
            "name": "signals",
            "kind": "stream",
            "broker": broker,
            "tables": [{"name": "pulse", "stream": stream, "max_wait": "0.2s", **table}],
        }
    )


def warehouse_in(tmp_path: Path) -> Warehouse:
    return Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "staging"))


def run(source: StreamSource, warehouse: Warehouse, consumer: str = "c1", **kw: Any) -> DrainResult:
    table = source.tables[0]
    broker = OPENERS[source.broker.type](source.broker, table.stream, table.group, consumer)
    compiled = compile_checks(table.checks)
    gate = QualityGate(source.name, table, compiled) if compiled.rules else None
    try:
        return drain(broker, warehouse, source, table, gate=gate, **kw)
    finally:
        broker.close()


def rows(warehouse: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse.file), read_only=True) as con:
        return con.execute(sql).fetchall()


def signal(i: int, **extra: Any) -> str:
    return json.dumps({"signalId": i, "value": i * 1.5, "device": f"d{i % 3}", **extra})


@pytest.mark.parametrize("kind", BROKERS)
def test_rows_dead_letters_and_position_land_together(kind: str, tmp_path: Path) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of(kind) as (broker, stream, publish):
        publish([signal(i) for i in range(5)] + ["{not json", "[1, 2]", signal(5)])
        result = run(source_of(broker, stream), warehouse)
        assert (result.messages, result.rows, result.dead_letters) == (8, 6, 2)
        assert result.lag_before == 8 and result.lag_after == 0
        landed = rows(warehouse, "SELECT signal_id, device FROM signals.pulse ORDER BY 1")
        assert landed == [(i, f"d{i % 3}") for i in range(6)]
        dead = rows(
            warehouse,
            "SELECT reason, decode(payload) FROM _tributary.dead_letters ORDER BY message_id",
        )
        assert [(r.split(":")[0], p) for r, p in dead] == [
            ("not JSON", "{not json"),
            ("not a JSON object", "[1, 2]"),
        ]
        (cursor,) = rows(warehouse, "SELECT cursor_value FROM _tributary.state")[0]
        assert json.loads(cursor) == result.positions and len(result.positions) == 1
        # Acknowledged: a second run finds nothing.
        again = run(source_of(broker, stream), warehouse)
        assert again.messages == 0 and again.lag_before == 0


@pytest.mark.parametrize("kind", BROKERS)
def test_crash_between_commit_and_ack_replays_into_an_identical_table(
    kind: str, tmp_path: Path
) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of(kind) as (broker, stream, publish):
        publish([signal(i) for i in range(20)] + ["oops"])
        source = source_of(broker, stream, max_batch=7)

        def crash(_batch: list[Message]) -> None:
            raise SystemExit("killed between commit and ack")

        with pytest.raises(SystemExit):
            run(source, warehouse, after_commit=crash)
        first = rows(warehouse, "SELECT signal_id, _message_id FROM signals.pulse ORDER BY 1")
        assert len(first) == 7
        if kind == "nats":
            import time

            time.sleep(2.2)  # ack_wait: JetStream redelivers unacknowledged messages after it
        result = run(source, warehouse)
        assert result.messages == 21 and result.lag_after == 0
        table = rows(warehouse, "SELECT signal_id, _message_id FROM signals.pulse ORDER BY 1")
        assert table[:7] == first and [r[0] for r in table] == list(range(20))
        assert rows(warehouse, "SELECT count(*) FROM _tributary.dead_letters") == [(1,)]


def test_merge_keeps_the_latest_message_of_a_key(tmp_path: Path) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of("redis") as (broker, stream, publish):
        publish([signal(1, state="open"), signal(2, state="open"), signal(1, state="closed")])
        publish([json.dumps({"value": 3})])  # no key: a dead letter, not a failed batch
        source = source_of(broker, stream, primary_key="signal_id", write="merge")
        result = run(source, warehouse)
        assert result.dead_letters == 1
        assert rows(warehouse, "SELECT signal_id, state FROM signals.pulse ORDER BY 1") == [
            (1, "closed"),
            (2, "open"),
        ]
        (reason,) = rows(warehouse, "SELECT reason FROM _tributary.dead_letters")[0]
        assert "signal_id" in reason


@pytest.mark.parametrize("kind", BROKERS)
def test_a_poison_message_is_dead_lettered_and_its_batch_lands(kind: str, tmp_path: Path) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of(kind) as (broker, stream, publish):
        publish([signal(i) for i in range(4)] + [signal(99, value=-1)])
        checks = {"columns": {"value": {"min": 0}}}
        result = run(source_of(broker, stream, checks=checks), warehouse)
        assert result.batches == 1 and result.dead_letters == 1
        assert [r[0] for r in rows(warehouse, "SELECT signal_id FROM signals.pulse")] == [
            0,
            1,
            2,
            3,
        ]
        ((message_id, reason, payload),) = rows(
            warehouse, "SELECT message_id, reason, decode(payload) FROM _tributary.dead_letters"
        )
        assert reason.startswith("failed checks") and json.loads(payload)["signal_id"] == 99
        assert json.loads(payload)["_message_id"] == message_id
        assert result.lag_after == 0


def test_without_dead_letters_a_malformed_message_fails_the_run_and_nothing_is_acked(
    tmp_path: Path,
) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of("redis") as (broker, stream, publish):
        publish([signal(0), "garbage"])
        source = source_of(broker, stream, dead_letter=False)
        with pytest.raises(Exception, match=r"source 'signals', table 'pulse': message \S+ cannot"):
            run(source, warehouse)
        assert not warehouse.file.exists() or rows(
            warehouse, "SELECT count(*) FROM information_schema.tables WHERE table_name='pulse'"
        ) == [(0,)]
        opened = OPENERS["redis"](source.broker, stream, "tributary", "c1")
        assert opened.lag() == 2
        opened.close()


@pytest.mark.parametrize("kind", BROKERS)
def test_a_consumer_that_falls_behind_reports_its_lag(kind: str, tmp_path: Path) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of(kind) as (broker, stream, publish):
        publish([signal(i) for i in range(30)])
        result = run(source_of(broker, stream, max_batch=4, max_messages=10), warehouse)
        assert (result.messages, result.lag_before, result.lag_after) == (10, 30, 20)
        metadata = result.metadata()
        assert metadata["lag_before"] == 30 and metadata["lag_after"] == 20
        assert metadata["batch_size_max"] == 4


@pytest.mark.parametrize(
    ("policy", "columns"),
    [("evolve", ["device", "firmware", "signal_id", "value"]), ("discard_columns", None)],
)
def test_a_schema_change_in_the_messages_follows_schema_policy(
    policy: str, columns: list[str] | None, tmp_path: Path
) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of("redis") as (broker, stream, publish):
        source = source_of(broker, stream, schema_policy=policy)
        publish([signal(i) for i in range(3)])
        run(source, warehouse)
        publish([signal(3, firmware="2.1"), json.dumps({"signalId": 4, "value": "n/a"})])
        run(source, warehouse)
        stored = rows(
            warehouse,
            "SELECT column_name, data_type FROM information_schema.columns WHERE "
            "table_name = 'pulse' AND NOT starts_with(column_name, '_') ORDER BY 1",
        )
        expected = columns or ["device", "signal_id", "value"]
        assert [name for name, _ in stored] == expected
        assert rows(warehouse, "SELECT count(*) FROM signals.pulse") == [(5,)]
        if policy == "evolve":
            assert dict(stored)["value"] == "VARCHAR"  # widened to hold "n/a"


def test_a_new_field_under_schema_policy_freeze_fails_the_run_and_acks_nothing(
    tmp_path: Path,
) -> None:
    warehouse = warehouse_in(tmp_path)
    with stream_of("redis") as (broker, stream, publish):
        source = source_of(broker, stream, schema_policy="freeze")
        publish([signal(0)])
        run(source, warehouse)
        publish([signal(1, firmware="2.1")])
        with pytest.raises(Exception, match="firmware"):
            run(source, warehouse)
        assert rows(warehouse, "SELECT signal_id FROM signals.pulse") == [(0,)]
        opened = OPENERS["redis"](source.broker, stream, "tributary", "c1")
        assert opened.lag() == 1  # still waiting, for the schema to be changed
        opened.close()


def test_a_run_of_several_batches_opens_the_warehouse_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch commits in a transaction of its own, yet the run opens the warehouse file
    for writing once, not once per batch."""
    warehouse = warehouse_in(tmp_path)
    opened: list[str] = []
    connect = duckdb.connect

    def counting(database: str = ":memory:", *args: Any, **kwargs: Any) -> Any:
        if str(database) == str(warehouse.file) and not kwargs.get("read_only"):
            opened.append(str(database))
        return connect(database, *args, **kwargs)

    with stream_of("redis") as (broker, stream, publish):
        publish([signal(i) for i in range(20)])
        monkeypatch.setattr(duckdb, "connect", counting)
        result = run(source_of(broker, stream, max_batch=5), warehouse)
        monkeypatch.undo()

    assert (result.batches, result.rows, len(opened)) == (4, 20, 1)
    assert rows(warehouse, "SELECT count(*), count(DISTINCT load_id) FROM _tributary.loads") == [
        (4, 4)
    ]
    (cursor,) = rows(warehouse, "SELECT cursor_value FROM _tributary.state")[0]
    assert json.loads(cursor) == result.positions
