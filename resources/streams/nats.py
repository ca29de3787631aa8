"""NATS JetStream: a durable pull consumer; a batch's acks are confirmed with `ack_sync` on its
last message (a plain ack is fire-and-forget).

nats-py is asyncio: the adapter runs its own event loop, driven only while one of its methods
runs, so callers stay synchronous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from resources.redaction import redact
from resources.streams.base import BrokerError, Message, last_positions
from resources.streams.retry import with_reconnect

_T = TypeVar("_T")

_TRANSIENT: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    asyncio.TimeoutError,
    ConnectionError,
    OSError,
)
_ACK_TIMEOUT = 5.0


class NatsStream:
    """The durable pull consumer `durable` on `subject` of the JetStream stream `jetstream`
    (found from the subject when None), created when missing with explicit acks, `ack_wait`
    seconds before a redelivery and no limit on unacknowledged messages. Raises BrokerError
    when the server cannot be reached after `reconnect_attempts`."""

    def __init__(
        self,
        url: str,
        subject: str,
        durable: str,
        jetstream: str | None = None,
        ack_wait_seconds: float = 60.0,
        deliver_all: bool = True,
        connect_timeout: float = 10.0,
        reconnect_attempts: int = 8,
    ) -> None:
        self.subject, self.durable, self.attempts = subject, durable, reconnect_attempts
        self.jetstream = jetstream
        self._where = f"nats {redact(url)} subject {subject!r} consumer {durable!r}"
        self._loop = asyncio.new_event_loop()
        self._inflight: dict[int, Msg] = {}
        # By the Message object, not its id: a message redelivered while an earlier delivery of
        # it is still in a batch is a second delivery, acknowledged with its own batch.
        self._config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait_seconds,
            max_ack_pending=-1,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.ALL if deliver_all else DeliverPolicy.NEW,
            filter_subject=subject,
        )
        self._nc: Client | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        try:
            self._retry(lambda: self._connect(url, connect_timeout), "connect")
        except BaseException:
            self._loop.close()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return self._loop.run_until_complete(coroutine)

    def _retry(self, action: Any, what: str) -> Any:
        return with_reconnect(
            lambda: self._run(action()), _TRANSIENT, self.attempts, f"{self._where}: {what}"
        )

    async def _connect(self, url: str, timeout: float) -> None:
        if self._nc is None:
            # The client reconnects by itself, without limit; each operation is retried on
            # top of it (see `_retry`) and gives up after `reconnect_attempts`.
            self._nc = await nats.connect(
                url,
                connect_timeout=timeout,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
            )
        js = self._nc.jetstream()
        try:
            if self.jetstream is None:
                self.jetstream = await js.find_stream_name_by_subject(self.subject)
            self._sub = await js.pull_subscribe(
                self.subject, durable=self.durable, stream=self.jetstream, config=self._config
            )
        except nats.js.errors.NotFoundError as error:
            raise BrokerError(f"{self._where}: no JetStream stream holds the subject") from error

    def fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        """Up to `max_batch` messages (redelivered ones included); see `Broker`."""
        result: list[Message] = self._retry(
            lambda: self._fetch(max_batch, max(0.05, max_wait_seconds)), "fetch"
        )
        return result

    async def _fetch(self, max_batch: int, wait: float) -> list[Message]:
        assert self._sub is not None
        try:
            received = await self._sub.fetch(max_batch, timeout=wait)
        except nats.errors.TimeoutError:
            return []  # nothing arrived in time (a dropped connection retries in `ack`/`lag`)
        stream, messages = self.jetstream or "", []
        for msg in received:
            key, deliveries = _sequence_and_deliveries(msg)
            message = Message(key, msg.data, {stream: key}, deliveries > 1)
            self._inflight[id(message)] = msg
            messages.append(message)
        return messages

    def positions(self, batch: Sequence[Message]) -> dict[str, str]:
        """`{jetstream stream: the last stream sequence}`."""
        return last_positions(batch)

    def ack(self, batch: Sequence[Message]) -> None:
        """Ack every message, then wait for the server to confirm the last one: acks are
        handled in order, so its reply confirms them all."""
        if batch:
            self._retry(lambda: self._ack(batch), "acknowledge")
            for message in batch:
                self._inflight.pop(id(message), None)

    async def _ack(self, batch: Sequence[Message]) -> None:
        *rest, last = (self._inflight[id(m)] for m in batch)
        for msg in rest:
            if not msg.is_acked:
                await msg.ack()
        await last.ack_sync(timeout=_ACK_TIMEOUT)

    def lag(self) -> int | None:
        """Messages not yet delivered to the consumer plus those awaiting their ack."""
        result: int | None = self._retry(self._lag, "read the lag")
        return result

    async def _lag(self) -> int | None:
        assert self._sub is not None
        info = await self._sub.consumer_info()
        if info.num_pending is None:
            return None
        return int(info.num_pending) + int(info.num_ack_pending or 0)

    def close(self) -> None:
        try:
            if self._nc is not None:
                self._run(self._nc.close())
        except Exception:  # closing acknowledges nothing: a dead server is fine here
            pass
        finally:
            self._loop.close()


_V1_TOKENS = 9
"""`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`"""


def _sequence_and_deliveries(msg: Msg) -> tuple[str, int]:
    """The message's stream sequence (as text) and how often it was delivered, read from its
    reply subject as `Msg.metadata` reads them, without building what else that parses (a
    timestamp, two dataclasses) for every message. Other subject forms go through it."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == _V1_TOKENS and tokens[0] == "$JS" and tokens[1] == "ACK":
        sequence, delivered = tokens[5], tokens[4]
        if sequence.isdigit() and delivered.isdigit():
            return sequence, int(delivered)
    meta = msg.metadata
    return str(meta.sequence.stream), meta.num_delivered
