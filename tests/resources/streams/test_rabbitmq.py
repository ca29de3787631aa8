"""The RabbitMQ adapter against the machine's broker: batches, acks, lag, lost connections."""

from __future__ import annotations

import json
import uuid

import pytest

from resources.streams.base import BrokerError
from resources.streams.rabbitmq import RabbitMQConsumer
from tests.resources.streams.rabbitmq_helpers import (
    URL,
    close_connection,
    needs_rabbitmq,
    publish,
    ready,
    throwaway_queue,
)

pytestmark = needs_rabbitmq


def consumer(queue: str, prefetch: int | None = 100) -> RabbitMQConsumer:
    return RabbitMQConsumer(
        URL, queue, prefetch=prefetch, connection_name=f"stream20b-{uuid.uuid4().hex[:8]}"
    )


def test_a_batch_is_at_most_half_the_prefetch_and_one_ack_confirms_it() -> None:
    with throwaway_queue() as queue:
        publish(queue, [{"n": i} for i in range(250)])
        broker = consumer(queue, prefetch=200)
        try:
            assert broker.lag() == 250
            first = broker.fetch(max_batch=1000, max_wait_seconds=2)
            assert [m.id for m in first] == [f"m{i}" for i in range(100)]
            assert json.loads(first[0].payload) == {"n": 0}
            broker.ack(first)
            second = broker.fetch(max_batch=1000, max_wait_seconds=2)
            assert [m.id for m in second] == [f"m{i}" for i in range(100, 200)]
            broker.ack(second)
            assert broker.lag() == 50
        finally:
            broker.close()
        assert ready(queue) == 50


def test_an_unacknowledged_batch_comes_back_with_the_same_ids() -> None:
    with throwaway_queue() as queue:
        publish(queue, [{"n": i} for i in range(30)], ids=False)
        broker = consumer(queue)
        first = broker.fetch(max_batch=30, max_wait_seconds=2)
        broker.close()  # e.g. killed before the warehouse commit
        again = consumer(queue)
        try:
            second = again.fetch(max_batch=30, max_wait_seconds=2)
            again.ack(second)
        finally:
            again.close()
        assert [m.id for m in second] == [m.id for m in first]
        assert all(m.id.startswith("sha256:") for m in first)
        assert ready(queue) == 0


def test_a_connection_dropped_mid_batch_reconnects_and_loses_nothing() -> None:
    with throwaway_queue() as queue:
        publish(queue, [{"n": i} for i in range(300)])
        name = f"stream20b-{uuid.uuid4().hex[:8]}"
        broker = RabbitMQConsumer(URL, queue, prefetch=100, connection_name=name)
        seen: list[str] = []
        try:
            held = broker.fetch(max_batch=100, max_wait_seconds=2)
            close_connection(name)  # the batch is neither committed nor acknowledged
            broker.ack(held)  # too late: the broker has requeued it; this must not raise
            while batch := broker.fetch(max_batch=100, max_wait_seconds=1):
                seen += [m.id for m in batch]
                broker.ack(batch)
        finally:
            broker.close()
        assert sorted(seen) == sorted(f"m{i}" for i in range(300))
        assert ready(queue) == 0


def test_a_missing_queue_is_an_error_naming_it() -> None:
    missing = f"stream20b.missing.{uuid.uuid4().hex[:8]}"
    broker = consumer(missing)
    try:
        with pytest.raises(
            BrokerError, match=f"rabbitmq .*guest:\\*\\*\\*@.* queue '{missing}'.*NOT_FOUND"
        ):
            broker.fetch(max_batch=10, max_wait_seconds=0.5)
    finally:
        broker.close()


def test_the_prefetch_is_two_batches() -> None:
    with throwaway_queue() as queue:
        publish(queue, [{"n": i} for i in range(50)])
        broker = consumer(queue, prefetch=None)
        try:
            first = broker.fetch(max_batch=20, max_wait_seconds=2)
            # The next batch is fetched while this one commits, before its ack.
            second = broker.fetch(max_batch=20, max_wait_seconds=2)
            assert [len(first), len(second)] == [20, 20]
            assert ready(queue) == 10  # no more than two batches were sent ahead
            assert first[0].redelivered is False
            broker.ack(first)
            broker.ack(second)
            assert len(broker.fetch(max_batch=20, max_wait_seconds=2)) == 10
        finally:
            broker.close()
