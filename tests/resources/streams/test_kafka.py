"""The Kafka adapter against librdkafka's mock cluster (functional tests only): offsets from
the warehouse, the group commit after it, lag, and the options it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition

from resources.streams.base import BrokerError, Message
from resources.streams.kafka import KafkaConsumer
from tests.resources.streams.kafka_mock import (
    FAST_GROUPS,
    MockCluster,
    mock_cluster,
    produce,
    unique_topic,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with mock_cluster() as running:
        yield running


def consumer(
    cluster: MockCluster,
    topic: str,
    group: str = "g",
    options: dict[str, str] | None = None,
    **kw: str,
) -> KafkaConsumer:
    settings = {**FAST_GROUPS, **(options or {})}
    return KafkaConsumer(cluster.bootstrap, topic, group, options=settings, **kw)  # type: ignore[arg-type]


def drain(broker: KafkaConsumer, max_batch: int = 100) -> list[Message]:
    seen: list[Message] = []
    while batch := broker.fetch(max_batch, 1.0):
        seen += batch
        broker.ack(batch)
    return seen


def committed(cluster: MockCluster, topic: str, group: str) -> dict[int, int]:
    probe = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    try:
        parts = probe.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
        return {p.partition: p.offset for p in parts if p.offset >= 0}
    finally:
        probe.close()


def test_every_message_once_with_per_partition_positions(cluster: MockCluster) -> None:
    topic = unique_topic()
    produce(cluster.bootstrap, topic, [json.dumps({"n": i}) for i in range(40)])
    broker = consumer(cluster, topic)
    try:
        assert broker.lag() == 40
        batch = broker.fetch(100, 1.0)
        assert broker.positions(batch) == {str(p): "10" for p in range(4)}
        assert sorted(m.id for m in batch) == sorted(f"{i % 4}:{i // 4}" for i in range(40))
        assert broker.lag() == 40  # fetched is not landed: nothing acknowledged yet
        broker.ack(batch)
        assert broker.lag() == 0
    finally:
        broker.close()
    assert committed(cluster, topic, "g") == {p: 10 for p in range(4)}


def test_the_warehouse_offsets_win_over_the_group_commit(cluster: MockCluster) -> None:
    topic = unique_topic()
    produce(cluster.bootstrap, topic, [json.dumps({"n": i}) for i in range(40)])
    first = consumer(cluster, topic)
    try:
        drain(first)  # the group has committed everything
    finally:
        first.close()
    second = consumer(cluster, topic)
    try:
        # The warehouse landed only up to offset 7 of partition 0 and 9 of the others (say the
        # commits of later batches were rolled back): those messages come again.
        second.resume({"0": "7", "1": "9", "2": "9", "3": "9"})
        assert second.lag() == 6
        again = sorted(m.id for m in drain(second))
    finally:
        second.close()
    assert again == ["0:7", "0:8", "0:9", "1:9", "2:9", "3:9"]


def test_a_partition_without_a_stored_offset_starts_at_start(cluster: MockCluster) -> None:
    topic = unique_topic()
    produce(cluster.bootstrap, topic, [b"old"] * 8)
    broker = consumer(cluster, topic, start="latest")
    try:
        assert broker.lag() == 0
        assert broker.fetch(10, 0.5) == []
        produce(cluster.bootstrap, topic, [b"new"] * 4)
        assert [m.payload for m in drain(broker)] == [b"new"] * 4
    finally:
        broker.close()


def test_options_that_would_break_the_guarantee_are_refused(cluster: MockCluster) -> None:
    with pytest.raises(ValueError, match=r"'enable\.auto\.commit' is fixed to false"):
        consumer(cluster, "t", options={"enable.auto.commit": "true"})


def test_a_missing_topic_is_an_error_naming_it(cluster: MockCluster) -> None:
    broker = consumer(cluster, "stream20b-missing", options={"allow.auto.create.topics": "false"})
    try:
        with pytest.raises(BrokerError, match="topic 'stream20b-missing'"):
            broker.lag()
    finally:
        broker.close()
