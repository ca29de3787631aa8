"""Redis Streams: XREADGROUP in a consumer group, XACK after the warehouse commit.

Entries delivered to the group but never acknowledged (a run that died after reading, or a
connection dropped while a reply was on its way) stay in the group's pending list; a run claims
them first (XAUTOCLAIM), so nothing is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis

from resources.redaction import redact
from resources.streams.base import BrokerError, Message, last_positions
from resources.streams.retry import with_reconnect

_TRANSIENT: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)
_ACK_CHUNK = 10_000


class RedisStream:
    """A consumer `consumer` of `group` on the stream key `stream`.

    `start` is where a group created now begins (`0`: the whole stream, `$`: new entries).
    `field` names the entry field holding the payload; an entry without it is delivered with
    its whole field map as a JSON object (so a malformed entry still reaches the dead letters).
    Raises BrokerError when the server cannot be reached after `reconnect_attempts`."""

    def __init__(
        self,
        url: str,
        stream: str,
        group: str,
        consumer: str,
        start: str = "0",
        field: str | None = "payload",
        claim_idle_ms: int = 0,
        connect_timeout: float = 10.0,
        reconnect_attempts: int = 8,
    ) -> None:
        self.stream, self.group, self.consumer = stream, group, consumer
        self.field = field.encode() if field is not None else None
        self.claim_idle_ms = claim_idle_ms
        self.attempts = reconnect_attempts
        self._where = f"redis {redact(url)} stream {stream!r} group {group!r}"
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_keepalive=True,
            health_check_interval=30,
            client_name=f"tributary:{consumer}",
        )
        self._claim_from: str | None = "0-0"
        """Where the scan of the pending list goes on; None once it is done."""
        self._retry(self._create_group, "create the consumer group", start)

    def _retry(self, action: Any, what: str, *args: Any) -> Any:
        return with_reconnect(
            lambda: action(*args),
            _TRANSIENT,
            self.attempts,
            f"{self._where}: {what}",
            before_retry=self._rescan_pending,
        )

    def _rescan_pending(self) -> None:
        # A reply lost with the connection leaves its entries pending: read the list again.
        self._claim_from = "0-0"

    def _create_group(self, start: str) -> None:
        try:
            self._client.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise BrokerError(f"{self._where}: {error}") from error

    def fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        """Pending entries first (claimed for this consumer), then new ones; see `Broker`."""
        result: list[Message] = self._retry(self._fetch, "read", max_batch, max_wait_seconds)
        return result

    def _fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        while self._claim_from is not None:
            reply = self._client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=self._claim_from,
                count=max_batch,
            )
            following, entries = reply[0], reply[1]
            self._claim_from = None if following in (b"0-0", "0-0") else following
            if len(reply) > 2 and reply[2]:
                # Pending entries deleted from the stream (trimmed) hold nothing to land.
                self._client.xack(self.stream, self.group, *reply[2])
            if entries:
                return self._messages(entries, redelivered=True)
        block = max(1, int(max_wait_seconds * 1000))
        read: Any = self._client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=max_batch, block=block
        )
        if not read:
            return []
        entries = next(iter(read.values())) if isinstance(read, dict) else read[0][1]
        return self._messages(entries, redelivered=False)

    def _messages(self, entries: Any, redelivered: bool) -> list[Message]:
        stream, field, messages = self.stream, self.field, []
        for entry_id, fields in entries:
            key = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            payload = fields.get(field) if field is not None else None
            if payload is None:
                payload = json.dumps(
                    {_text(k): _text(v) for k, v in fields.items()}, ensure_ascii=False
                ).encode()
            messages.append(Message(key, payload, {stream: key}, redelivered))
        return messages

    def positions(self, batch: Sequence[Message]) -> dict[str, str]:
        """`{stream: the last entry id}`."""
        return last_positions(batch)

    def ack(self, batch: Sequence[Message]) -> None:
        """XACK every entry of the batch (pipelined, in chunks)."""
        ids = [m.id for m in batch]
        self._retry(self._ack, "acknowledge", ids)

    def _ack(self, ids: list[str]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for start in range(0, len(ids), _ACK_CHUNK):
            pipe.xack(self.stream, self.group, *ids[start : start + _ACK_CHUNK])
        pipe.execute()

    def lag(self) -> int | None:
        """Entries not yet delivered to the group plus those delivered but unacknowledged;
        None when Redis cannot tell (entries deleted from the middle of the stream)."""
        result: int | None = self._retry(self._lag, "read the lag")
        return result

    def _lag(self) -> int | None:
        for group in self._client.xinfo_groups(self.stream):
            if _text(group.get("name")) == self.group:
                lag, pending = group.get("lag"), group.get("pending") or 0
                return None if lag is None else int(lag) + int(pending)
        return None

    def close(self) -> None:
        self._client.close()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
