"""RabbitMQ: one queue consumed with manual acknowledgements.

The broker keeps at most `prefetch` deliveries unacknowledged on the channel: twice the batch,
so the next batch is delivered while one is committed. `ack` confirms a whole batch with one
`basic_ack(multiple=True)` on its last delivery tag, after the warehouse commit. A connection
lost before that makes the broker requeue what it had delivered; the deliveries come back
flagged `redelivered` and the writer deduplicates them by key (or by message id): a lost
connection never loses a message.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from time import monotonic
from types import MappingProxyType
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from resources.redaction import redact
from resources.streams.base import BrokerError, Message

__all__ = ["MAX_PREFETCH", "RabbitMQConsumer", "message_id"]

log = logging.getLogger(__name__)

MAX_PREFETCH = 65535
"""AMQP's prefetch count is a 16-bit field: the longest batch one channel holds unacknowledged."""

_REFUSED = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
    pika.exceptions.AuthenticationError,
    pika.exceptions.IncompatibleProtocolError,
)
"""Connection errors that another attempt would only repeat."""


def _transient(error: BaseException) -> bool:
    return isinstance(error, pika.exceptions.AMQPConnectionError) and not isinstance(
        error, _REFUSED
    )


def message_id(properties: BasicProperties, body: bytes) -> str:
    """The publisher's `message_id` if it set one, else `sha256:` and the body's hex digest
    (equal bodies then count as one message when deduplicating)."""
    if properties.message_id:
        return str(properties.message_id)
    return "sha256:" + hashlib.sha256(body).hexdigest()


_NO_POSITION: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class _Fetched:
    """A batch handed out and not yet acknowledged: its last message, and that message's
    delivery tag on the connection (`generation`) that delivered it."""

    last: Message
    generation: int
    tag: int


class RabbitMQConsumer:
    """Consumes `queue` at `url` (`amqp://` or `amqps://`) with manual acknowledgements.

    `prefetch` (1..65535, deliveries the broker sends ahead) defaults to twice the first fetch's
    `max_batch`; a batch is at most half of it, so the next batch arrives while one is
    committed and unacknowledged. A dropped connection is reopened with
    jittered exponential backoff, `reconnect_attempts` times, before `BrokerError` is raised.
    The consumer never declares the queue (its owner does): a missing one raises `BrokerError`.
    The connection shows as `connection_name` in the broker's management tools.
    """

    def __init__(
        self,
        url: str,
        queue: str,
        *,
        prefetch: int | None = None,
        connection_name: str,
        connect_timeout: float = 10.0,
        reconnect_attempts: int = 8,
    ) -> None:
        if prefetch is not None and not 1 <= prefetch <= MAX_PREFETCH:
            raise ValueError(f"prefetch must be 1..{MAX_PREFETCH}, not {prefetch}")
        self._parameters = pika.URLParameters(url)
        self._parameters.client_properties = {"connection_name": connection_name}
        self._parameters.socket_timeout = connect_timeout
        self._parameters.blocked_connection_timeout = connect_timeout
        self._parameters.connection_attempts = 1
        self._where = f"rabbitmq {redact(url)} queue {queue!r}"
        self._secrets = [str(getattr(self._parameters.credentials, "password", "") or "")]
        self._queue = queue
        self._prefetch = prefetch
        self._attempts = reconnect_attempts + 1
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._generation = 0
        self._consuming = False
        self._last_tag = self._acked_tag = 0
        self._buffer: list[Message] = []
        self._tags: list[int] = []
        """The delivery tag of each buffered message."""
        self._fetched: deque[_Fetched] = deque()

    def _error(self, doing: str, error: BaseException) -> BrokerError:
        detail = redact(f"{type(error).__name__}: {error}", self._secrets)
        return BrokerError(f"{self._where}: {doing}: {detail}")

    def _on_message(
        self, _: BlockingChannel, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        # Plain messages (their tags kept aside): this runs once per message, and a subclass
        # with more frozen fields costs markedly more per message.
        self._last_tag = method.delivery_tag
        self._tags.append(method.delivery_tag)
        self._buffer.append(
            Message(message_id(properties, body), body, _NO_POSITION, bool(method.redelivered))
        )

    def _open(self) -> None:
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
        except BaseException:
            connection.close()
            raise
        self._connection, self._channel = connection, channel
        self._generation += 1
        self._last_tag = self._acked_tag = 0
        self._consuming = False

    def _connected(self, lost: BaseException | None = None) -> BlockingChannel:
        """The open channel; after `lost`, a new connection (the broker requeued what the old
        one had delivered unacknowledged, so its buffered deliveries are dropped)."""
        if lost is not None:
            log.warning("RabbitMQ queue %s: connection lost (%s); reconnecting", self._queue, lost)
            self._drop()
        if self._channel is None:
            try:
                Retrying(
                    retry=retry_if_exception(_transient),
                    wait=wait_random_exponential(multiplier=0.1, max=5.0),
                    stop=stop_after_attempt(self._attempts),
                    reraise=True,
                )(self._open)
            except pika.exceptions.AMQPError as error:
                raise self._error("connecting", error) from None
        assert self._channel is not None
        return self._channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._buffer.clear()
        self._tags.clear()
        if connection is not None and connection.is_open:
            with suppress(pika.exceptions.AMQPError):  # closing what is already broken
                connection.close()

    def fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        """Up to `max_batch` deliveries (never more than `prefetch`), waiting at most
        `max_wait_seconds` for the batch to fill (longer only while reconnecting)."""
        if self._prefetch is None:
            self._prefetch = min(2 * max_batch, MAX_PREFETCH)
        limit = max(1, min(max_batch, self._prefetch // 2))
        deadline = monotonic() + max_wait_seconds
        lost: BaseException | None = None
        for _ in range(self._attempts):
            try:
                channel = self._connected(lost)
                if not self._consuming:
                    channel.basic_qos(prefetch_count=self._prefetch)
                    channel.basic_consume(self._queue, self._on_message, auto_ack=False)
                    self._consuming = True
                assert self._connection is not None
                while len(self._buffer) < limit and (remaining := deadline - monotonic()) > 0:
                    if self._last_tag - self._acked_tag >= self._prefetch:
                        break  # nothing more comes before an ack: do not wait for it
                    self._connection.process_data_events(time_limit=min(remaining, 0.5))
                break
            except pika.exceptions.AMQPConnectionError as error:
                if not _transient(error):
                    raise self._error("consuming", error) from None
                lost = error
            except pika.exceptions.AMQPChannelError as error:
                self._drop()
                raise self._error("consuming", error) from None
        else:
            raise self._error("consuming", lost or RuntimeError("connection lost"))
        batch, self._buffer = self._buffer[:limit], self._buffer[limit:]
        tags, self._tags = self._tags[:limit], self._tags[limit:]
        if batch:
            self._fetched.append(_Fetched(batch[-1], self._generation, tags[-1]))
        return batch

    def positions(self, batch: Sequence[Message]) -> dict[str, str]:
        """Nothing: a RabbitMQ queue has no position to resume from; the broker keeps what is
        unacknowledged."""
        return {}

    def ack(self, batch: Sequence[Message]) -> None:
        """Acknowledges `batch` (and every delivery before it) with one `basic_ack(multiple=True)`.

        A batch delivered on a connection lost since is not acknowledged (and no error is
        raised): the broker requeued it and delivers it again, flagged redelivered.
        """
        if not batch:
            return
        while self._fetched and self._fetched[0].last is not batch[-1]:
            self._fetched.popleft()  # batches never acknowledged (their run gave up on them)
        if not self._fetched:
            raise TypeError("ack() takes a batch this consumer fetched, once")
        last = self._fetched.popleft()
        if self._channel is None or last.generation != self._generation:
            log.warning("RabbitMQ queue %s: batch from a lost connection; redelivered", self._queue)
            return
        try:
            self._channel.basic_ack(delivery_tag=last.tag, multiple=True)
            self._acked_tag = last.tag
            # Flush the frame now rather than at the next fetch (which may never come).
            assert self._connection is not None
            self._connection.process_data_events(time_limit=0)
        except pika.exceptions.AMQPError as error:
            log.warning("RabbitMQ queue %s: ack lost (%s); redelivered", self._queue, error)
            self._drop()

    def lag(self) -> int | None:
        """Messages waiting: ready in the queue, plus those delivered to this consumer and not
        yet acknowledged."""
        lost: BaseException | None = None
        for _ in range(2):
            try:
                declared: Any = self._connected(lost).queue_declare(self._queue, passive=True)
                assert self._connection is not None
                # Deliveries that came with the reply are counted unacknowledged by the broker.
                self._connection.process_data_events(time_limit=0)
                unacked = self._last_tag - self._acked_tag
                return int(declared.method.message_count) + unacked
            except pika.exceptions.AMQPConnectionError as error:
                if not _transient(error):
                    raise self._error("reading the lag", error) from None
                lost = error
            except pika.exceptions.AMQPChannelError as error:
                self._drop()
                raise self._error("reading the lag", error) from None
        raise self._error("reading the lag", lost or RuntimeError("connection lost"))

    def close(self) -> None:
        """Closes the connection; unacknowledged deliveries return to the queue."""
        self._drop()
