"""Kafka: a topic consumed in a consumer group, the warehouse holding the offsets.

Each partition's next offset is stored in the warehouse with the rows of the batch that reached
it (`positions`); the consumer group's commit follows the warehouse commit (`ack`) and serves
monitoring tools only. On start (`resume`) and after every rebalance the consumer seeks each
assigned partition to the warehouse's offset, so a group commit lost or ahead of the warehouse
changes nothing: the warehouse is the source of truth. Auto-commit and the automatic offset
store are off; transactions are read committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage

from resources.redaction import redact
from resources.streams.base import BrokerError, Message, last_positions

__all__ = ["FIXED_SETTINGS", "KafkaConsumer"]

log = logging.getLogger(__name__)

FIXED_SETTINGS: Mapping[str, str] = {
    "enable.auto.commit": "false",
    "enable.auto.offset.store": "false",
    "isolation.level": "read_committed",
}
"""librdkafka settings the guarantee rests on: options may not change them."""

_PLATFORM_SETTINGS = frozenset({"bootstrap.servers", "group.id", "auto.offset.reset"})
"""Settings the catalog gives by name (`url`, `group`, `start`)."""

_FATAL_CODES = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
    }
)


def reserved_option(name: str) -> str | None:
    """Why `name` may not be set in the options (None when it may)."""
    if name in FIXED_SETTINGS:
        return f"is fixed to {FIXED_SETTINGS[name]} (offsets live in the warehouse)"
    if name in _PLATFORM_SETTINGS:
        return "is set from the catalog (url, group, start)"
    return None


class KafkaConsumer:
    """Consumes `topic` at `bootstrap` (`host:port[,host:port]`) in consumer group `group`.

    `start` is where a partition with no offset in the warehouse begins. `options` are further
    librdkafka settings (security, timeouts); see `reserved_option` for those it refuses.
    A fetch waits up to `connect_timeout` * (`reconnect_attempts` + 1) seconds for the group
    to assign partitions, then raises `BrokerError`; librdkafka itself reconnects dropped
    connections with backoff (up to 5 s between attempts).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        *,
        client_id: str = "tributary",
        start: Literal["earliest", "latest"] = "earliest",
        options: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        reconnect_attempts: int = 8,
    ) -> None:
        refused = {name: why for name in options or {} if (why := reserved_option(name))}
        if refused:
            name, why = next(iter(refused.items()))
            raise ValueError(f"Kafka option {name!r} {why}")
        self._topic, self._start = topic, start
        self._where = f"kafka {redact(bootstrap)} topic {topic!r} group {group!r}"
        self._settings: dict[str, Any] = {
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 5000,
            "socket.connection.setup.timeout.ms": int(connect_timeout * 1000),
            **(options or {}),
            **FIXED_SETTINGS,
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": client_id,
            "auto.offset.reset": start,
            "enable.partition.eof": "false",
            "error_cb": self._on_error,
        }
        self._secrets = [str(v) for k, v in (options or {}).items() if "password" in k]
        self._assign_timeout = connect_timeout * (reconnect_attempts + 1)
        self._request_timeout = connect_timeout
        self._consumer: Consumer | None = None
        self._assigned = False
        self._stored: dict[int, int] = {}
        """Partition -> next offset, as the warehouse has it (resumed, then each ack)."""
        self._fatal: str | None = None

    def _error(self, doing: str, detail: object) -> BrokerError:
        return BrokerError(f"{self._where}: {doing}: {redact(str(detail), self._secrets)}")

    def _on_error(self, error: KafkaError) -> None:
        # librdkafka reports transient trouble (a broker down) here and retries by itself.
        if error.fatal():
            self._fatal = str(error)
        else:
            log.warning("%s: %s", self._where, redact(str(error), self._secrets))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        default = OFFSET_BEGINNING if self._start == "earliest" else OFFSET_END
        for partition in partitions:
            partition.offset = self._stored.get(partition.partition, default)
        consumer.assign(partitions)
        self._assigned = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.unassign()
        self._assigned = False

    def _subscribed(self) -> Consumer:
        if self._consumer is None:
            try:
                consumer = Consumer(self._settings)
            except KafkaException as error:
                raise self._error("configure the consumer", error) from None
            consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
            self._consumer = consumer
        return self._consumer

    def resume(self, positions: Mapping[str, str]) -> None:
        """Start each partition at the offset the warehouse stored for it (`{partition: next
        offset}`); partitions it has none for start at `start`."""
        for partition, offset in positions.items():
            if partition.isdigit() and offset.lstrip("-").isdigit():
                self._stored[int(partition)] = int(offset)

    def fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        """Up to `max_batch` messages, waiting at most `max_wait_seconds` once partitions are
        assigned (the first fetch waits for the group to assign them)."""
        consumer = self._subscribed()
        received: list[KafkaMessage] = []
        deadline = time.monotonic() + self._assign_timeout
        while not self._assigned:
            # Joining the group happens inside consume(); what it returns is kept.
            received += self._consume(consumer, max_batch - len(received), 0.2)
            if not self._assigned and time.monotonic() > deadline:
                raise self._error(
                    "join the group",
                    f"no partition assigned within {self._assign_timeout:.0f} s "
                    "(is the broker reachable? do other consumers of the group hold them all?)",
                )
        if len(received) < max_batch:
            received += self._consume(consumer, max_batch - len(received), max_wait_seconds)
        return [
            Message(
                f"{m.partition()}:{m.offset()}",
                m.value() or b"",
                {str(m.partition()): str((m.offset() or 0) + 1)},
            )
            for m in received
        ]

    def _consume(self, consumer: Consumer, count: int, wait: float) -> list[KafkaMessage]:
        if self._fatal is not None:
            raise self._error("consume", self._fatal)
        try:
            messages = consumer.consume(num_messages=max(1, count), timeout=wait)
        except KafkaException as error:
            raise self._error("consume", error) from None
        good: list[KafkaMessage] = []
        for message in messages:
            problem = message.error()
            if problem is None:
                good.append(message)
            elif problem.fatal() or problem.code() in _FATAL_CODES:
                raise self._error("consume", problem)
            else:
                log.warning("%s: %s", self._where, problem)
        return good

    def positions(self, batch: Sequence[Message]) -> dict[str, str]:
        """`{partition: next offset}` for every partition the batch has messages of."""
        return last_positions(batch)

    def ack(self, batch: Sequence[Message]) -> None:
        """Commit the batch's offsets to the consumer group (synchronously). The warehouse
        already holds them, so a refused commit is logged, not raised: the next run seeks to
        the warehouse's offsets whatever the group says."""
        reached = last_positions(batch)
        for partition, offset in reached.items():
            self._stored[int(partition)] = int(offset)
        if not reached or self._consumer is None:
            return
        offsets = [TopicPartition(self._topic, int(p), int(o)) for p, o in reached.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            log.warning("%s: group commit refused (%s); the warehouse has them", self._where, error)

    def lag(self) -> int | None:
        """Messages after the warehouse's offset in every partition (high watermark minus the
        stored offset; a partition without one counts from `start`)."""
        consumer = self._subscribed()
        try:
            metadata = consumer.list_topics(self._topic, timeout=self._request_timeout)
        except KafkaException as error:
            raise self._error("read the lag", error) from None
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            raise self._error("read the lag", topic.error if topic else "no such topic")
        waiting = 0
        for partition in topic.partitions:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition),
                    timeout=self._request_timeout,
                    cached=False,
                )
            except KafkaException as error:
                raise self._error("read the lag", error) from None
            stored = self._stored.get(partition)
            if stored is None:
                stored = low if self._start == "earliest" else high
            waiting += max(0, high - max(stored, low))
        return waiting

    def close(self) -> None:
        """Leave the group; commits nothing."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
