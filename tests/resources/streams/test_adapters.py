"""The broker adapters on their own, against the machine's Redis and NATS."""

from __future__ import annotations

import json
import time

import redis

from resources.streams.base import Message, already_landed, ordered
from resources.streams.nats import NatsStream
from resources.streams.redis import RedisStream
from tests.streams import (
    NATS_URL,
    REDIS_URL,
    nats_publish,
    nats_stream,
    redis_publish,
    redis_stream,
)


def test_ordered_positions_tell_what_already_landed() -> None:
    assert ordered("1700000000000-3") == (1700000000000, 3) and ordered("42") == (42,)
    assert ordered("abc") is None
    stored = {"s": "1700000000000-3"}
    assert already_landed(Message("a", b"", {"s": "1700000000000-3"}), stored)
    assert not already_landed(Message("b", b"", {"s": "1700000000001-0"}), stored)
    assert not already_landed(Message("c", b"", {"t": "1"}), stored)  # another partition
    assert not already_landed(Message("d", b""), stored)  # no position: never skipped


def test_redis_entries_delivered_but_never_acked_are_claimed_by_the_next_consumer() -> None:
    with redis_stream() as name:
        redis_publish(name, [f'{{"i": {i}}}' for i in range(5)])
        first = RedisStream(REDIS_URL, name, "g", "one")
        taken = first.fetch(3, 0.1)
        first.close()  # died without acking
        second = RedisStream(REDIS_URL, name, "g", "two")
        again = second.fetch(10, 0.1)
        assert [m.id for m in again] == [m.id for m in taken] and all(m.redelivered for m in again)
        rest = second.fetch(10, 0.1)
        assert len(rest) == 2 and not any(m.redelivered for m in rest)
        assert second.lag() == 5
        second.ack(again + rest)
        assert second.lag() == 0
        second.close()


def test_a_redis_entry_without_the_payload_field_arrives_as_all_its_fields() -> None:
    with redis_stream() as name:
        client = redis.Redis.from_url(REDIS_URL)
        client.xadd(name, {"device": "d1", "value": "3.5"})
        client.close()
        for field in ("payload", None):
            consumer = RedisStream(REDIS_URL, name, f"g{field}", "c", field=field)
            (message,) = consumer.fetch(10, 0.1)
            assert json.loads(message.payload) == {"device": "d1", "value": "3.5"}
            consumer.close()


def test_nats_redelivers_what_was_not_acked_and_confirms_acks() -> None:
    with nats_stream() as name:
        nats_publish(f"{name}.x", [f'{{"i": {i}}}' for i in range(6)])
        consumer = NatsStream(NATS_URL, f"{name}.>", "durable", ack_wait_seconds=1)
        batch = consumer.fetch(4, 0.5)
        assert [m.id for m in batch] == ["1", "2", "3", "4"]
        assert consumer.positions(batch) == {name: "4"} and consumer.lag() == 6
        consumer.close()
        time.sleep(1.3)
        consumer = NatsStream(NATS_URL, f"{name}.>", "durable", ack_wait_seconds=1)
        again = consumer.fetch(10, 0.5)
        assert sorted(int(m.id) for m in again) == [1, 2, 3, 4, 5, 6]
        consumer.ack(again)
        assert consumer.lag() == 0
        consumer.close()
