"""MQTT: a QoS 1 subscription in a persistent session, acknowledged by hand after the commit.

The client connects with MQTT 5, a fixed client id, `clean_start=False` and a session expiry,
so the broker keeps the subscription and queues messages while no run is connected; paho's
`manual_ack` holds each PUBACK until `ack`, so a message that was not committed is sent again
(flagged DUP) on the next connection. The client's Receive Maximum is twice the batch size: the
broker sends the next batch while one is committed, and no more.

MQTT brokers drop messages silently (Mosquitto: beyond `max_queued_messages` per offline
session, and for slow subscribers). Where publishers number their messages (`sequence_field`,
per `publisher_field` or per topic), the subscriber sees a skipped number and reports a `Gap`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from resources.redaction import redact
from resources.streams.base import BrokerError, Gap, Message
from resources.streams.retry import with_reconnect

__all__ = ["MAX_RECEIVE", "MqttSubscriber"]

log = logging.getLogger(__name__)

MAX_RECEIVE = 65535
"""MQTT 5's Receive Maximum is 16 bits: the most QoS 1 messages a broker sends unacknowledged."""

_TRANSIENT: tuple[type[BaseException], ...] = (OSError, TimeoutError)


@dataclass(frozen=True)
class _Received(Message):
    """A message and the acknowledgements it owes: (connection, packet id) of every copy of it
    the broker delivered (a copy sent again after a reconnect is folded into the first)."""

    receipts: tuple[tuple[int, int], ...] = ()
    numbered: tuple[str, int] | None = None
    """(publisher, sequence number), when the payload has them."""


class MqttSubscriber:
    """Subscribes `client_id` to `topic` (a topic filter) at `url` (`mqtt://` or `mqtts://`,
    credentials in the URL) with QoS 1 in a session the broker keeps `session_expiry_seconds`.

    A message's id is a digest of its topic and payload (a copy sent again lands once;
    identical payloads on one topic count as one message). `sequence_field` names a top-level
    integer field of JSON payloads that each publisher raises by one per message;
    `publisher_field` the field telling publishers apart (the topic when None). With them,
    `positions` holds each publisher's highest number and `gaps` reports skipped ones.

    Connecting waits at most `connect_timeout` s per attempt, `reconnect_attempts` more times
    with backoff, then raises `BrokerError`; a connection dropped later is reopened by paho
    with backoff, and a fetch raises `BrokerError` if it stays down that long.
    """

    def __init__(
        self,
        url: str,
        topic: str,
        client_id: str,
        *,
        session_expiry_seconds: int = 7 * 24 * 3600,
        sequence_field: str | None = None,
        publisher_field: str | None = None,
        connect_timeout: float = 10.0,
        reconnect_attempts: int = 8,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{redact(url)} is not an mqtt:// or mqtts:// URL")
        self._host, self._tls = parts.hostname, parts.scheme == "mqtts"
        self._port = parts.port or (8883 if self._tls else 1883)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._where = f"mqtt {redact(url)} topic {topic!r} client {client_id!r}"
        self._topic, self._client_id = topic, client_id
        self._session_expiry = session_expiry_seconds
        self._sequence_field, self._publisher_field = sequence_field, publisher_field
        self._connect_timeout, self._attempts = connect_timeout, reconnect_attempts
        self._client: mqtt.Client | None = None
        self._arrived: deque[tuple[int, mqtt.MQTTMessage]] = deque()
        self._wake = threading.Condition()
        self._generation = 0
        self._connected = False
        self._closing = False
        self._down_since: float | None = None
        self._refused: str | None = None
        self._confirmed: set[int] = set()
        self._receive = MAX_RECEIVE
        self._highest: dict[str, int] = {}
        """Publisher -> highest sequence number committed (resumed, then each batch's gaps)."""

    # paho calls these on its network thread.
    def _on_connect(
        self, client: mqtt.Client, _: Any, flags: Any, reason: ReasonCode, __: Any
    ) -> None:
        with self._wake:
            if reason.is_failure:
                self._refused = str(reason)
            else:
                self._generation += 1
                self._connected, self._down_since = True, None
                # Subscribing again on a kept session changes nothing; on a new one it is needed.
                client.subscribe(self._topic, qos=1)
            self._wake.notify_all()

    def _on_disconnect(
        self, _: mqtt.Client, __: Any, ___: Any, reason: ReasonCode, ____: Any
    ) -> None:
        with self._wake:
            if self._connected and not self._closing:
                log.warning("%s: connection lost (%s); reconnecting", self._where, reason)
            self._connected = False
            self._down_since = self._down_since or monotonic()
            self._wake.notify_all()

    def _on_unsubscribe(self, _: mqtt.Client, __: Any, mid: int, ___: Any, ____: Any) -> None:
        with self._wake:
            self._confirmed.add(mid)
            self._wake.notify_all()

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        with self._wake:
            self._arrived.append((self._generation, message))
            self._wake.notify_all()

    def _connect(self, receive_maximum: int) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self._tls:
            client.tls_set()
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_message, client.on_unsubscribe = self._on_message, self._on_unsubscribe
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._session_expiry
        properties.ReceiveMaximum = receive_maximum

        def attempt() -> None:
            self._refused = None
            client.connect(
                self._host,
                self._port,
                keepalive=max(5, int(self._connect_timeout * 3)),
                clean_start=False,
                properties=properties,
            )

        with_reconnect(attempt, _TRANSIENT, self._attempts, f"{self._where}: connect")
        client.loop_start()
        with self._wake:
            self._wake.wait_for(lambda: self._connected or self._refused, self._connect_timeout)
            refused, connected = self._refused, self._connected
        if not connected:
            client.loop_stop()
            client.disconnect()
            why = f"refused: {refused}" if refused else f"no answer in {self._connect_timeout} s"
            raise BrokerError(f"{self._where}: connect {why}")
        return client

    def _down_too_long(self) -> bool:
        # What `reconnect_attempts` backoff waits (1, 2, 4, 5, 5 ... s) and one connect timeout.
        budget = sum(min(2**i, 5) for i in range(self._attempts)) + self._connect_timeout
        return self._down_since is not None and monotonic() - self._down_since > budget

    def resume(self, positions: Mapping[str, str]) -> None:
        """Start from the positions stored with the rows: each publisher's highest sequence
        number, so a gap opened while no run was connected is found too."""
        for publisher, sequence in positions.items():
            if sequence.lstrip("-").isdigit():
                self._highest[publisher] = max(int(sequence), self._highest.get(publisher, -1))

    def fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        """Up to `max_batch` messages, waiting at most `max_wait_seconds` for the batch to fill.

        The first fetch connects with Receive Maximum (messages the broker sends ahead,
        unacknowledged) = twice its `max_batch`, at most 65535: the next batch arrives while
        one is committed. A batch is at most half the Receive Maximum."""
        if self._client is None:
            self._receive = min(2 * max_batch, MAX_RECEIVE)
            self._client = self._connect(self._receive)
        limit = max(1, min(max_batch, self._receive // 2))
        deadline = monotonic() + max_wait_seconds
        with self._wake:
            while len(self._arrived) < limit and (remaining := deadline - monotonic()) > 0:
                if self._down_too_long():
                    raise BrokerError(f"{self._where}: connection lost and not restored")
                self._wake.wait(min(remaining, 0.5))
            taken = [self._arrived.popleft() for _ in range(min(limit, len(self._arrived)))]
        return self._messages(taken)

    def _messages(self, taken: list[tuple[int, mqtt.MQTTMessage]]) -> list[Message]:
        batch: list[_Received] = []
        where: dict[str, int] = {}
        for generation, message in taken:
            receipt = (generation, message.mid)
            digest = hashlib.sha256(message.topic.encode() + b"\0" + message.payload)
            key = "sha256:" + digest.hexdigest()
            known = where.get(key)
            if known is not None:  # a copy sent again after a reconnect: ack it, land it once
                first = batch[known]
                batch[known] = replace(first, receipts=(*first.receipts, receipt))
                continue
            where[key] = len(batch)
            numbered = (
                _numbered(message, self._sequence_field, self._publisher_field)
                if self._sequence_field is not None
                else None
            )
            batch.append(
                _Received(
                    id=key,
                    payload=bytes(message.payload),
                    redelivered=bool(message.dup),
                    receipts=(receipt,),
                    numbered=numbered,
                )
            )
        return list(batch)

    def positions(self, batch: Sequence[Message]) -> dict[str, str]:
        """`{publisher: highest sequence number}` once `batch` is committed, for every
        publisher seen so far; `{}` without `sequence_field`."""
        highest, _ = _fold(dict(self._highest), batch)
        return {publisher: str(sequence) for publisher, sequence in highest.items()}

    def gaps(self, batch: Sequence[Message]) -> list[Gap]:
        """Numbers the publishers of `batch` skipped since the batches before it (messages the
        broker dropped); a drop at the end of a publisher's messages shows with its next one."""
        self._highest, found = _fold(self._highest, batch)
        for gap in found:
            log.warning("%s: %s", self._where, gap.describe())
        return found

    def ack(self, batch: Sequence[Message]) -> None:
        """PUBACK every copy of every message of `batch` received on the current connection,
        confirmed: MQTT answers no PUBACK, so an UNSUBSCRIBE from a topic never subscribed
        follows them, and its UNSUBACK (the broker handles a client's packets in order) says
        they were processed. A socket closed with unread data is reset, and the broker would
        discard acks it had not read yet. Copies received on a connection lost since are sent
        again by the broker and acknowledged when that copy's batch is."""
        client = self._client
        if client is None:
            return
        stale = 0
        with self._wake:
            generation = self._generation
        for message in batch:
            if not isinstance(message, _Received):
                raise TypeError("ack() takes a batch this subscriber fetched")
            for received_on, mid in message.receipts:
                if received_on != generation or client.ack(mid, 1) != mqtt.MQTT_ERR_SUCCESS:
                    stale += 1
        if stale:
            log.warning("%s: %d acks not sent (connection lost); redelivered", self._where, stale)
        if stale == sum(len(m.receipts) for m in batch if isinstance(m, _Received)):
            return
        result, barrier = client.unsubscribe(f"$tributary-ack-barrier/{self._client_id}")
        with self._wake:
            confirmed = result == mqtt.MQTT_ERR_SUCCESS and self._wake.wait_for(
                lambda: barrier in self._confirmed or self._generation != generation,
                self._connect_timeout,
            )
            self._confirmed.discard(barrier if barrier is not None else -1)
        if not confirmed or self._generation != generation:
            log.warning("%s: acks not confirmed (connection lost); redelivered", self._where)

    def lag(self) -> int | None:
        """None: MQTT cannot tell how many messages the broker holds for a session."""
        return None

    def close(self) -> None:
        """Disconnect (after the acks already sent); the session and its queue stay."""
        client, self._client = self._client, None
        if client is None:
            return
        with self._wake:
            self._closing = True
        # DISCONNECT is written after the PUBACKs queued before it; paho reports it sent with
        # on_disconnect. Stopping the loop earlier would drop acks still queued.
        client.disconnect()
        with self._wake:
            self._wake.wait_for(lambda: not self._connected, self._connect_timeout)
        client.loop_stop()


def _fold(highest: dict[str, int], batch: Sequence[Message]) -> tuple[dict[str, int], list[Gap]]:
    """`highest` updated with the numbered messages of `batch`, and the gaps they reveal.

    A number past the highest + 1 opens a gap. A number at or below the highest is a copy sent
    again (flagged redelivered) or, when not flagged, a publisher that started counting anew:
    its count restarts there."""
    gaps: list[Gap] = []
    for message in batch:
        numbered = message.numbered if isinstance(message, _Received) else None
        if numbered is None:
            continue
        publisher, sequence = numbered
        last = highest.get(publisher)
        if last is None or sequence > last:
            if last is not None and sequence > last + 1:
                gaps.append(Gap(publisher, str(last + 1), str(sequence - 1)))
            highest[publisher] = sequence
        elif not message.redelivered:
            highest[publisher] = sequence
    return highest, gaps


def _numbered(
    message: mqtt.MQTTMessage, sequence_field: str, publisher_field: str | None
) -> tuple[str, int] | None:
    """(publisher, sequence) of a JSON payload; None when it has no integer sequence."""
    try:
        record = json.loads(message.payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    sequence = record.get(sequence_field)
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        return None
    if publisher_field is None:
        return message.topic, sequence
    publisher = record.get(publisher_field)
    return (str(publisher), sequence) if publisher is not None else None
