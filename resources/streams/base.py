"""What every message broker adapter gives the stream reader: batches of messages, the position
they reach, acknowledgement after the warehouse commit, and the lag.

Adapters live beside this module (`resources.streams.<broker>`), take plain typed arguments and
know nothing of catalog models or warehouse tables. The order a run follows is always:
`fetch` -> land the rows with `positions(batch)` in one warehouse transaction -> `ack(batch)`.
A process that dies between the commit and the ack gets the same messages again: the writer
deduplicates them by key, so the table ends up identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from resources.errors import TributaryError


@dataclass(frozen=True)
class Message:
    """One message as the broker delivered it.

    `id` is unique within the stream and stable across redeliveries (Redis entry id, NATS stream
    sequence, Kafka `partition:offset`, a RabbitMQ message id, ...): it keys rows that have no
    primary key of their own. `payload` is the raw body. `position` is where this message sits,
    as `{partition: offset}` text (one entry for single-partition streams); `positions()` folds
    a batch's into what is stored with the rows. `redelivered` is True when the broker says the
    message was delivered before (informational)."""

    id: str
    payload: bytes
    position: Mapping[str, str] = field(default_factory=dict)
    redelivered: bool = False


class BrokerError(TributaryError):
    """The broker could not be reached or refused an operation, after the adapter's retries.
    The message names the broker, the stream and what failed (never a password)."""


@runtime_checkable
class Broker(Protocol):
    """A consumer of one stream (topic, subject, queue) in one consumer group.

    Adapters reconnect with backoff on dropped connections (raising `BrokerError` only when
    retries are exhausted) and never acknowledge anything before `ack` is called."""

    def fetch(self, max_batch: int, max_wait_seconds: float) -> list[Message]:
        """Up to `max_batch` messages, waiting at most `max_wait_seconds` for the first ones;
        `[]` when none arrived. Messages delivered earlier but never acknowledged (a run that
        died before `ack`) come first."""
        ...

    def positions(self, batch: Sequence[Message]) -> dict[str, str]:
        """`{partition: offset}` the batch reaches: stored in the warehouse with its rows."""
        ...

    def ack(self, batch: Sequence[Message]) -> None:
        """Acknowledge every message of `batch`, confirmed by the broker where it can confirm.
        Called only after the warehouse commit. Raises BrokerError if the broker refused it
        (the messages are then redelivered and deduplicated)."""
        ...

    def lag(self) -> int | None:
        """Messages waiting for this consumer group (delivered-but-unacknowledged included),
        or None where the broker cannot tell."""
        ...

    def close(self) -> None:
        """Release connections; acknowledges nothing."""
        ...


@runtime_checkable
class Resumable(Protocol):
    """A broker that starts from the positions stored in the warehouse (Kafka offsets, MQTT
    publishers' sequence numbers): the reader calls `resume` once, before the first fetch."""

    def resume(self, positions: Mapping[str, str]) -> None:
        """Start after `positions` (what `positions()` returned for the last committed batch)."""
        ...


@dataclass(frozen=True)
class Gap:
    """Messages of `partition` (a publisher, a partition) from position `first` to `last`
    that the broker never delivered: it dropped them."""

    partition: str
    first: str
    last: str

    @property
    def count(self) -> int:
        """How many messages are missing (1 when the positions are not numbers)."""
        if self.first.isdigit() and self.last.isdigit():
            return int(self.last) - int(self.first) + 1
        return 1

    def describe(self) -> str:
        span = self.first if self.first == self.last else f"{self.first}..{self.last}"
        return f"messages {span} of {self.partition!r} never arrived (dropped by the broker)"


@runtime_checkable
class ReportsGaps(Protocol):
    """A broker that can tell when messages were dropped (MQTT with numbered messages)."""

    def gaps(self, batch: Sequence[Message]) -> list[Gap]:
        """The gaps `batch` reveals after the batches before it; called once per batch, in
        order, when it is committed (a batch fetched but never committed reveals nothing)."""
        ...


def last_positions(batch: Sequence[Message]) -> dict[str, str]:
    """The last position of each partition in `batch`, in delivery order: the default
    `positions()` for brokers whose offsets only grow within a partition."""
    reached: dict[str, str] = {}
    for message in batch:
        reached.update(message.position)
    return reached


def ordered(position: str) -> tuple[int, ...] | None:
    """A position as a tuple of integers when it is one (`"42"`, Redis' `"1700000000000-3"`),
    else None. Positions spelled this way only grow within their partition."""
    parts = position.replace("-", ".").split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def already_landed(message: Message, stored: Mapping[str, str]) -> bool:
    """Whether `message` sits at or before the stored position of its partition: its row
    committed with that position, and it is being delivered again (its ack was lost). Only
    ordered positions (see `ordered`) tell; a message without one is never skipped."""
    if not message.position:
        return False
    for partition, position in message.position.items():
        mine, last = ordered(position), stored.get(partition)
        reached = ordered(last) if last is not None else None
        if mine is None or reached is None or mine > reached:
            return False
    return True
