"""RabbitMQ and MQTT through the whole drain, against real brokers: a consumer killed (-9)
between the commit and the ack, a connection dropped (RabbitMQ) or the broker restarted (a
throwaway Mosquitto) mid-drain, a poison message, and messages a broker dropped (MQTT gaps).
Every message lands exactly once."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

from platform_assets.stream_kind.brokers.mqtt import client_id
from platform_assets.stream_kind.config import StreamSource
from resources.streams.base import Message
from tests.platform_assets.stream_kind.test_drain import rows, run, signal, warehouse_in
from tests.platform_assets.stream_kind.test_faults import _kill_between_commit_and_ack
from tests.resources.streams import mqtt_helpers, rabbitmq_helpers
from tests.resources.streams.mqtt_helpers import mosquitto, needs_mosquitto, unique_topic
from tests.resources.streams.rabbitmq_helpers import needs_rabbitmq, throwaway_queue

TABLE = "SELECT * EXCLUDE (_load_id, _loaded_at) FROM signals.pulse ORDER BY _message_id"
LETTERS = "SELECT message_id, reason, payload FROM _tributary.dead_letters ORDER BY message_id"


def settings(broker: dict[str, Any], stream: str, **table: Any) -> dict[str, Any]:
    return {
        "name": "signals",
        "kind": "stream",
        "broker": broker,
        "tables": [{"name": "pulse", "stream": stream, "max_wait": "0.3s", **table}],
    }


def payloads(count: int, poison_at: int | None = None) -> list[bytes]:
    sent = [signal(i, seq=i + 1).encode() for i in range(count)]
    if poison_at is not None:
        sent.insert(poison_at, b'{"signalId": oops')
    return sent


@needs_rabbitmq
def test_rabbitmq_kill_9_between_commit_and_ack_replays_into_an_identical_table(
    tmp_path: Path,
) -> None:
    with throwaway_queue() as crashing, throwaway_queue() as clean_queue:
        for queue in (crashing, clean_queue):
            rabbitmq_helpers.publish(queue, payloads(60, poison_at=40))
        broker = {"type": "rabbitmq", "url": rabbitmq_helpers.URL}
        crashed = tmp_path / "crashed"
        source = settings(broker, crashing, max_batch=16)
        _kill_between_commit_and_ack(source, crashed, batch=2)
        warehouse = warehouse_in(crashed)
        assert rows(warehouse, "SELECT count(*) FROM signals.pulse") == [(32,)]
        replay = run(StreamSource.model_validate(source), warehouse, consumer="crash")
        assert replay.lag_after == 0
        assert rabbitmq_helpers.ready(crashing) == 0
        clean = warehouse_in(tmp_path / "clean")
        run(StreamSource.model_validate(settings(broker, clean_queue, max_batch=16)), clean)
        assert rows(warehouse, TABLE) == rows(clean, TABLE)
        assert len(rows(warehouse, TABLE)) == 60
        assert rows(warehouse, LETTERS) == rows(clean, LETTERS)
        assert [r[2] for r in rows(clean, LETTERS)] == [b'{"signalId": oops']


@needs_rabbitmq
def test_rabbitmq_connection_dropped_mid_drain_reconnects_and_loses_nothing(
    tmp_path: Path,
) -> None:
    warehouse = warehouse_in(tmp_path)
    consumer = f"stream20b-{uuid.uuid4().hex[:8]}"
    with throwaway_queue() as queue:
        rabbitmq_helpers.publish(queue, payloads(500))
        dropped = threading.Event()

        def drop(_batch: list[Message]) -> None:
            # Committed, not yet acknowledged: the broker requeues the batch and redelivers it.
            if not dropped.is_set():
                dropped.set()
                rabbitmq_helpers.close_connection(consumer)

        source = StreamSource.model_validate(
            settings({"type": "rabbitmq", "url": rabbitmq_helpers.URL}, queue, max_batch=50)
        )
        result = run(source, warehouse, consumer=consumer, after_commit=drop)
        assert dropped.is_set() and result.lag_after == 0
        # The batches delivered but unacknowledged when the connection dropped came again
        # (one committed, one fetched ahead) and landed once.
        assert result.messages >= 550 and result.rows == 500
        ids = [r[0] for r in rows(warehouse, "SELECT signal_id FROM signals.pulse ORDER BY 1")]
        assert ids == list(range(500))
        assert rabbitmq_helpers.ready(queue) == 0


@needs_mosquitto
def test_mqtt_kill_9_between_commit_and_ack_replays_into_an_identical_table(
    tmp_path: Path,
) -> None:
    topic = unique_topic()
    with mosquitto(tmp_path / "broker") as server:
        broker = {"type": "mqtt", "url": server.url, "sequence_field": "seq"}
        for group in ("crashing", "clean"):  # subscribe both sessions before publishing
            source = StreamSource.model_validate(settings(broker, topic, group=group))
            run(source, warehouse_in(tmp_path / f"first-{group}"), consumer="crash")
        mqtt_helpers.publish(server.port, topic, payloads(60, poison_at=40))
        crashed = tmp_path / "crashed"
        source_settings = settings(broker, topic, group="crashing", max_batch=16)
        _kill_between_commit_and_ack(source_settings, crashed, batch=2)
        warehouse = warehouse_in(crashed)
        assert rows(warehouse, "SELECT count(*) FROM signals.pulse") == [(32,)]
        run(StreamSource.model_validate(source_settings), warehouse, consumer="crash")
        clean = warehouse_in(tmp_path / "clean")
        clean_settings = settings(broker, topic, group="clean", max_batch=16)
        run(StreamSource.model_validate(clean_settings), clean, consumer="crash")
        assert rows(warehouse, TABLE) == rows(clean, TABLE)
        assert len(rows(warehouse, TABLE)) == 60
        assert rows(warehouse, LETTERS) == rows(clean, LETTERS)
        assert [r[2] for r in rows(clean, LETTERS)] == [b'{"signalId": oops']


@needs_mosquitto
def test_mqtt_broker_restarted_mid_drain_reconnects_and_loses_nothing(tmp_path: Path) -> None:
    topic = unique_topic()
    warehouse = warehouse_in(tmp_path)
    with mosquitto(tmp_path / "broker") as server:
        broker = {"type": "mqtt", "url": server.url, "sequence_field": "seq"}
        source = StreamSource.model_validate(settings(broker, topic, max_batch=50, max_wait="3s"))
        run(source, warehouse)  # the session and its subscription
        mqtt_helpers.publish(server.port, topic, payloads(400))
        restarted = threading.Event()

        def restart(_batch: list[Message]) -> None:
            if not restarted.is_set():
                restarted.set()
                server.restart(down_seconds=0.5)

        result = run(source, warehouse, after_commit=restart)
        assert restarted.is_set() and result.gaps == []
        ids = [r[0] for r in rows(warehouse, "SELECT signal_id FROM signals.pulse ORDER BY 1")]
        assert ids == list(range(400))


@needs_mosquitto
def test_mqtt_messages_the_broker_dropped_are_reported_as_a_gap(tmp_path: Path) -> None:
    topic = unique_topic()
    warehouse = warehouse_in(tmp_path)
    with mosquitto(tmp_path / "broker", max_queued_messages=100) as server:
        broker = {"type": "mqtt", "url": server.url, "sequence_field": "seq"}
        source = StreamSource.model_validate(settings(broker, topic, max_batch=500))
        mqtt_helpers.publish(server.port, topic, [b'{"seq": 0}'])  # before any session: lost
        run(source, warehouse)
        mqtt_helpers.publish(server.port, topic, payloads(10))
        first = run(source, warehouse)
        assert (first.rows, first.gaps) == (10, [])
        # Offline: the broker keeps 100 of the next 300 and drops the rest, silently.
        mqtt_helpers.publish(server.port, topic, payloads(310)[10:])
        second = run(source, warehouse)
        assert second.rows == 100 and second.gaps == []  # a drop at the end shows later
        mqtt_helpers.publish(server.port, topic, payloads(311)[310:])
        third = run(source, warehouse)
        assert third.rows == 1 and len(third.gaps) == 1
        assert third.metadata()["gap_messages"] == 200
        letters = rows(warehouse, "SELECT message_id, reason FROM _tributary.dead_letters")
        assert letters == [
            (
                f"gap:{topic}:111-310",
                f"gap: messages 111..310 of {topic!r} never arrived (dropped by the broker)",
            )
        ]
        (cursor,) = rows(warehouse, "SELECT cursor_value FROM _tributary.state")[0]
        assert json.loads(cursor) == {topic: "311"}


def test_an_mqtt_client_id_is_stable_and_differs_per_table() -> None:
    assert client_id("g", "c", "a/#") == client_id("g", "c", "a/#")
    assert client_id("g", "c", "a/#") != client_id("g", "c", "b/#")
