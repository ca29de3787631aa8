"""The MQTT adapter against throwaway Mosquitto brokers: persistent sessions, manual acks,
numbered messages and the gaps a broker leaves by dropping messages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from resources.streams.base import BrokerError, Gap, Message
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


def numbers(batch: Sequence[Message]) -> list[object]:
    """The `seq` of each message (`device:seq` when it has a device)."""
    records = [json.loads(m.payload) for m in batch]
    return [f"{r['device']}:{r['seq']}" if "device" in r else r["seq"] for r in records]


def drain(
    broker: MqttSubscriber, max_batch: int = 100, wait: float = 1.0
) -> tuple[list[object], list[Gap]]:
    """Fetch, 'commit' (positions and gaps, as the drain does) and ack until nothing comes."""
    seen: list[object] = []
    gaps: list[Gap] = []
    while batch := broker.fetch(max_batch, wait):
        seen += numbers(batch)
        broker.positions(batch)
        gaps += broker.gaps(batch)
        broker.ack(batch)
    return seen, gaps


def test_messages_wait_in_the_session_and_unacknowledged_ones_come_back(tmp_path: Path) -> None:
    topic, client = unique_topic(), f"stream20b-{uuid.uuid4().hex[:8]}"
    with mosquitto(tmp_path) as server:
        first = subscriber(server.url, topic, client, sequence_field="seq")
        assert first.fetch(10, 0.3) == []  # connects: the session and its subscription exist
        first.close()
        publish(server.port, topic, [{"seq": i} for i in range(1, 41)])  # nobody connected

        second = subscriber(server.url, topic, client, sequence_field="seq")
        batch = second.fetch(25, 2)
        assert numbers(batch) == list(range(1, 26))
        assert batch[0].id.startswith("sha256:")
        second.ack(batch[:10])
        second.close()  # 11..25 were never acknowledged: the broker sends them again

        third = subscriber(server.url, topic, client, sequence_field="seq")
        again = third.fetch(100, 2)
        assert numbers(again) == list(range(11, 41))
        assert [m.id for m in again[:15]] == [m.id for m in batch[10:]]
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
            seen, gaps = drain(broker)
            assert seen == ["a:4", "b:1", "a:7", "b:2"]
            assert gaps == [Gap("a", "5", "6")]
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
            seen, gaps = drain(second, max_batch=1000)
            # The drop shows when the publisher's next number arrives.
            assert gaps == []
            publish(server.port, topic, [{"seq": 201}])
            later, gaps = drain(second, max_batch=1000)
        finally:
            second.close()
        assert seen + later == [*range(1, 51), 201]
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
            seen, gaps = drain(broker, max_batch=30, wait=3)
        finally:
            broker.close()
        assert sorted(set(seen)) == list(range(1, 121)) and gaps == []
        assert set(numbers(held)) <= set(seen)  # the held batch was delivered again


def test_an_unreachable_broker_is_an_error_naming_it() -> None:
    port = free_port()
    broker = subscriber(f"mqtt://u:secret@127.0.0.1:{port}", "t", "c", reconnect_attempts=1)
    with pytest.raises(BrokerError, match=rf"mqtt mqtt://u:\*\*\*@127.0.0.1:{port}.*'t'"):
        broker.fetch(10, 0.1)


def test_a_publisher_counting_anew_is_no_gap(tmp_path: Path) -> None:
    topic = unique_topic()
    with mosquitto(tmp_path) as server:
        broker = subscriber(
            server.url, topic, f"stream20b-{uuid.uuid4().hex[:8]}", sequence_field="seq"
        )
        try:
            broker.fetch(10, 0.3)
            sent = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 4)]  # (boot, seq)
            publish(server.port, topic, [{"boot": b, "seq": i} for b, i in sent])
            seen, gaps = drain(broker)
        finally:
            broker.close()
        assert seen == [1, 2, 3, 1, 2, 4]
        assert gaps == [Gap(topic, "3", "3")]
