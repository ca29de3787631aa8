"""What every message broker adapter gives the stream reader: batches of messages, the position
they reach, acknowledgement after the warehouse commit, and the lag.

Adapters live beside this module (`resources.streams.<broker>`), take plain typed arguments and
know nothing of catalog models or warehouse tables. The order a run follows is always:
`fetch` -> land the rows with `positions(batch)` in one warehouse transaction -> `ack(batch)`.
A process that dies between the commit and the ack gets the same messages again: the writer
deduplicates them by key, so the table ends up identical.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

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
    if position.isdigit():
        return (int(position),)
    parts = position.replace("-", ".").split(".")
    if not all(map(str.isdigit, parts)):
        return None
    return tuple(map(int, parts))


def already_landed(message: Message, stored: Mapping[str, str]) -> bool:
    """Whether `message` sits at or before the stored position of its partition: its row
    committed with that position, and it is being delivered again (its ack was lost). Only
    ordered positions (see `ordered`) tell; a message without one is never skipped."""
    reached = {p: ordered(v) for p, v in stored.items()}
    return bool(message.position) and _at_or_before(message.position, reached)


def not_yet_landed(
    batch: Sequence[Message], stored: Mapping[str, str]
) -> tuple[list[Message], bool]:
    """The messages of `batch` that have not `already_landed` after `stored`, in order, and
    whether every one of those has ordered positions only (at least one each).

    This runs for every message a stream delivers, so the positions are compared as Arrow
    columns (one per partition), not one message at a time; batches whose positions do not fit
    that shape (other part counts than the stored position's, numbers beyond 64 bits) are
    compared one by one, with the same outcome."""
    if not batch:
        return [], True
    reached = {p: ordered(v) for p, v in stored.items()}
    try:
        keep, all_ordered = _compared_by_column(batch, reached)
    except _Irregular:
        return _compared_one_by_one(batch, reached)
    return list(itertools.compress(batch, keep)), all_ordered


class _Irregular(Exception):
    """Positions the column-wise comparison does not handle."""


_ORDERED = r"^[0-9]+([-.][0-9]+)*$"
"""What `ordered` accepts (ASCII digits)."""


def _compared_by_column(
    batch: Sequence[Message], reached: Mapping[str, tuple[int, ...] | None]
) -> tuple[list[bool], bool]:
    positions = [m.position for m in batch]
    count = len(positions)
    nonempty: Any = pa.array([bool(position) for position in positions])
    landed: Any = pa.array([True] * count)
    well_ordered: Any = pa.array([True] * count)
    for partition in set().union(*positions):
        try:
            column = pa.array([p.get(partition) for p in positions], pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise _Irregular from error
        present = pc.is_valid(column)
        is_ordered = pc.fill_null(pc.match_substring_regex(column, _ORDERED), False)
        well_ordered = pc.and_(well_ordered, pc.or_(pc.invert(present), is_ordered))
        last = reached.get(partition)
        if last is None:
            at_or_before: Any = pc.invert(present)
        else:
            before = _at_or_before_column(column, is_ordered, last)
            at_or_before = pc.or_(pc.invert(present), before)
        landed = pc.and_(landed, at_or_before)
    keep = pc.invert(pc.and_(nonempty, landed))
    fresh_ordered = pc.filter(pc.and_(nonempty, well_ordered), keep)
    return keep.to_pylist(), len(fresh_ordered) == 0 or bool(pc.all(fresh_ordered).as_py())


def _at_or_before_column(column: pa.Array, is_ordered: pa.Array, last: tuple[int, ...]) -> Any:
    """Whether each ordered position of `column` is at or before `last` (tuples compared as
    `ordered` makes them); False where a position is absent or not ordered."""
    filler = "-".join("0" * len(last))
    known = pc.if_else(is_ordered, column, filler)
    if len(last) == 1:
        places = [known]
    else:
        parts = pc.split_pattern_regex(known, "[-.]")
        if pc.any(pc.not_equal(pc.list_value_length(parts), len(last))).as_py():
            raise _Irregular
        places = [pc.list_element(parts, place) for place in range(len(last))]
    result: Any = pa.array([True] * len(column))  # equal throughout: at the position
    try:
        for place in reversed(range(len(last))):
            part = pc.cast(places[place], pa.uint64())
            bound = last[place]
            if bound >= 1 << 64:
                raise _Irregular
            result = pc.or_(pc.less(part, bound), pc.and_(pc.equal(part, bound), result))
    except pa.ArrowInvalid as error:
        raise _Irregular from error
    return pc.and_(is_ordered, result)


def _compared_one_by_one(
    batch: Sequence[Message], reached: Mapping[str, tuple[int, ...] | None]
) -> tuple[list[Message], bool]:
    fresh: list[Message] = []
    all_ordered = True
    for message in batch:
        position = message.position
        if not position:
            all_ordered = False
        elif reached and _at_or_before(position, reached):
            continue
        elif all_ordered:
            all_ordered = all(ordered(p) is not None for p in position.values())
        fresh.append(message)
    return fresh, all_ordered


def _at_or_before(
    position: Mapping[str, str], reached: Mapping[str, tuple[int, ...] | None]
) -> bool:
    for partition, offset in position.items():
        last = reached.get(partition)
        mine = ordered(offset) if last is not None else None
        if mine is None or last is None or mine > last:
            return False
    return True
