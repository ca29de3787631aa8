"""The MQTT adapter against throwaway Mosquitto brokers: persistent sessions, manual acks,
numbered messages and the gaps a broker leaves by dropping messages."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from resources.streams.base import BrokerError, Gap
from resources.streams.mqtt import MqttSubscriber
from tests.resources.streams.mqtt_helpers import (
    free_port,
    mosquitto,
    needs_mosquitto,
    publish,
    unique_topic,
)

pytestmark = needs_mosquitto


def subscriber(url: str, topic: str, client_id: str, **options: object) -> MqttSubscriber:
    return MqttSubscriber(url, topic, client_id, **options)  # type: ignore[arg-type]


def drain(broker: MqttSubscriber, max_batch: int = 100, wait: float = 1.0) -> list[str]:
    ids: list[str] = []
    while batch := broker.fetch(max_batch, wait):
        ids += [m.id for m in batch]
        broker.ack(batch)
    return ids


def test_messages_wait_in_the_session_and_unacknowledged_ones_come_back(tmp_path: Path) -> None:
    topic, client = unique_topic(), f"stream20b-{uuid.uuid4().hex[:8]}"
    with mosquitto(tmp_path) as server:
        first = subscriber(server.url, topic, client, sequence_field="seq")
        assert first.fetch(10, 0.3) == []  # connects: the session and its subscription exist
        first.close()
        publish(server.port, topic, [{"seq": i} for i in range(1, 41)])  # nobody connected

        second = subscriber(server.url, topic, client, sequence_field="seq")
        batch = second.fetch(25, 2)
        assert [m.id for m in batch] == [f"{topic}:{i}" for i in range(1, 26)]
        assert json.loads(batch[0].payload) == {"seq": 1}
        second.ack(batch[:10])
        second.close()  # 11..25 were never acknowledged: the broker sends them again

        third = subscriber(server.url, topic, client, sequence_field="seq")
        again = third.fetch(100, 2)
        assert [m.id for m in again] == [f"{topic}:{i}" for i in range(11, 41)]
        assert [m.redelivered for m in again[:15]] == [True] * 15
        third.ack(again)
        third.close()

        fourth = subscriber(server.url, topic, client)
        assert fourth.fetch(100, 0.5) == []
        fourth.close()


def test_a_batch_is_at_most_max_batch(tmp_path: Path) -> None:
    topic = unique_topic()
    with mosquitto(tmp_path) as server:
        broker = subscriber(server.url, topic, f"stream20b-{uuid.uuid4().hex[:8]}")
        try:
            broker.fetch(10, 0.3)
            publish(server.port, topic, [{"n": i} for i in range(30)])
            sizes = []
            while batch := broker.fetch(10, 1):
                sizes.append(len(batch))
                broker.ack(batch)
            assert sizes == [10, 10, 10]
        finally:
            broker.close()


def test_a_gap_in_a_publishers_numbers_is_reported(tmp_path: Path) -> None:
    topic = unique_topic()
    with mosquitto(tmp_path) as server:
        broker = subscriber(
            server.url,
            topic,
            f"stream20b-{uuid.uuid4().hex[:8]}",
            sequence_field="seq",
            publisher_field="device",
        )
        try:
            broker.resume({"a": "3"})  # stored with the rows by an earlier run
            broker.fetch(10, 0.3)
            records: list[dict[str, object]] = [
                {"device": "a", "seq": 4},
                {"device": "b", "seq": 1},
                {"device": "a", "seq": 7},
                {"device": "b", "seq": 2},
            ]
            publish(server.port, topic, records)
            ids = drain(broker)
            assert ids == ["a:4", "b:1", "a:7", "b:2"]
            assert broker.gaps() == [Gap("a", "5", "6")]
            assert broker.gaps() == []
            assert broker.positions([]) == {"a": "7", "b": "2"}
        finally:
            broker.close()


def test_the_queue_limit_of_an_offline_session_shows_as_a_gap(tmp_path: Path) -> None:
    # Mosquitto keeps at most max_queued_messages for a disconnected session and drops the
    # rest without telling anyone; the numbers tell.
    topic, client = unique_topic(), f"stream20b-{uuid.uuid4().hex[:8]}"
    with mosquitto(tmp_path, max_queued_messages=50) as server:
        first = subscriber(server.url, topic, client, sequence_field="seq")
        first.fetch(10, 0.3)
        first.close()
        publish(server.port, topic, [{"seq": i} for i in range(1, 201)])
        second = subscriber(server.url, topic, client, sequence_field="seq")
        try:
            second.resume({topic: "0"})
            ids = drain(second, max_batch=1000)
            # The drop shows when the publisher's next number arrives.
            assert second.gaps() == []
            publish(server.port, topic, [{"seq": 201}])
            ids += drain(second, max_batch=1000)
            gaps = second.gaps()
        finally:
            second.close()
        assert ids == [f"{topic}:{i}" for i in [*range(1, 51), 201]]
        assert gaps == [Gap(topic, "51", "200")]


def test_a_broker_restarted_mid_batch_loses_nothing(tmp_path: Path) -> None:
    topic, client = unique_topic(), f"stream20b-{uuid.uuid4().hex[:8]}"
    with mosquitto(tmp_path) as server:
        broker = subscriber(server.url, topic, client, sequence_field="seq")
        try:
            broker.fetch(30, 0.3)
            publish(server.port, topic, [{"seq": i} for i in range(1, 101)])
            held = broker.fetch(30, 2)
            assert len(held) == 30
            server.restart(down_seconds=0.5)  # neither committed nor acknowledged
            broker.ack(held)  # too late for this connection: must not raise
            publish(server.port, topic, [{"seq": i} for i in range(101, 121)])
            ids = set(drain(broker, max_batch=30, wait=3))
        finally:
            broker.close()
        assert ids | {m.id for m in held} == {f"{topic}:{i}" for i in range(1, 121)}
        assert {m.id for m in held} <= ids  # the held batch was delivered again


def test_an_unreachable_broker_is_an_error_naming_it() -> None:
    port = free_port()
    broker = subscriber(f"mqtt://u:secret@127.0.0.1:{port}", "t", "c", reconnect_attempts=1)
    with pytest.raises(BrokerError, match=rf"mqtt mqtt://u:\*\*\*@127.0.0.1:{port}.*'t'"):
        broker.fetch(10, 0.1)
