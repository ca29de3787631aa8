"""Draining one stream table: fetch a batch -> Arrow -> one warehouse transaction with its rows,
its dead letters and the stream position -> acknowledge. Repeated until nothing waits, the
run's message limit is reached, or a fetch brings nothing.

A process that dies anywhere leaves the warehouse as of its last commit; the messages after it
were not acknowledged and are delivered again, and land once (merged on their key).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from platform_assets.stream_kind.config import MESSAGE_ID, StreamSource, StreamTable
from platform_assets.stream_kind.reader import decode
from resources.errors import TributaryError
from resources.quarantine import DeadLetter
from resources.streams.base import (
    Broker,
    Gap,
    Message,
    ReportsGaps,
    Resumable,
    not_yet_landed,
)
from resources.warehouse import Gate, LoadResult, Warehouse, WriterSession
from resources.write_dispositions import WriteSpec


class StreamError(TributaryError):
    """A stream table cannot go on; the message names source, table, and the message."""


@dataclass
class DrainResult:
    """What a run of one table did: batches committed, messages read, rows landed, dead
    letters, the lag (messages waiting) before and after, and each batch's load."""

    batches: int = 0
    messages: int = 0
    rows: int = 0
    dead_letters: int = 0
    lag_before: int | None = None
    lag_after: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    """Messages the broker dropped, where the adapter can tell (each also a dead letter)."""
    positions: dict[str, str] = field(default_factory=dict)
    loads: list[LoadResult] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    """Messages per batch, in order."""
    replayed: int = 0
    """Messages delivered again after their batch had landed (acknowledged, not landed)."""
    seconds: float = 0.0

    def metadata(self) -> dict[str, object]:
        loads = self.loads
        data: dict[str, object] = {
            "batches": self.batches,
            "messages": self.messages,
            "rows_in": sum(load.rows_in for load in loads),
            "rows_inserted": sum(load.inserted for load in loads),
            "rows_updated": sum(load.updated for load in loads),
            "rows_deleted": 0,
            "rows_superseded": sum(load.superseded for load in loads),
            "rows_quarantined": sum(load.quarantined for load in loads),
            "dead_letters": self.dead_letters,
            "replayed": self.replayed,
            "lag_before": self.lag_before if self.lag_before is not None else "unknown",
            "lag_after": self.lag_after if self.lag_after is not None else "unknown",
            "seconds": round(self.seconds, 3),
        }
        if self.gaps:
            data["gaps"] = len(self.gaps)
            data["gap_messages"] = sum(gap.count for gap in self.gaps)
            data["gap_detail"] = "; ".join(gap.describe() for gap in self.gaps[:10])
        if self.batch_sizes:
            data["batch_size_max"] = max(self.batch_sizes)
        if self.positions:
            data["position"] = json.dumps(self.positions, sort_keys=True)
        return data


def stream_write_spec(source: StreamSource, table: StreamTable, ordered: bool) -> WriteSpec:
    """How a batch lands. With a primary key: merged on it (the latest message of a key wins).
    Without one, a message delivered again must land once: a batch of messages at ordered
    positions is appended (those at or before the stored position were dropped from it before,
    see `already_landed`); any other batch is merged on the message id."""
    keyed = bool(table.primary_key) or not ordered
    return WriteSpec(
        target_schema=source.name,
        target_table=table.name,
        write="merge" if keyed else "append",
        primary_key=table.dedupe_key if keyed else (),
        schema_policy=table.schema_policy,
        allow_empty=True,
    )


def stored_positions(warehouse: Warehouse, source: str, table: str) -> dict[str, str]:
    """The positions the last committed batch reached (`{partition: offset}`), or `{}`."""
    stored = warehouse.stored_cursor(source, table)
    if not stored:
        return {}
    try:
        value = json.loads(stored)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def drain(
    broker: Broker,
    warehouse: Warehouse,
    source: StreamSource,
    table: StreamTable,
    run_id: str | None = None,
    gate: Gate | None = None,
    after_commit: Callable[[list[Message]], None] | None = None,
) -> DrainResult:
    """Land what waits on `broker` into `table`, batch by batch (see the module). Raises
    StreamError (a malformed message with `dead_letter: false`), BrokerError, or the writer's
    error; each leaves the warehouse as of the last committed batch and that batch acknowledged.
    `after_commit` runs between a batch's commit and its ack (tests kill the process there).

    Every broker call runs on one worker thread, in order: it fetches the next batch while this
    thread commits the current one (DuckDB works outside the GIL), then acknowledges it. The
    batches commit through one writer session (see `WriterSession`), each in a transaction of
    its own."""
    started = time.perf_counter()
    limit = table.max_messages
    wait = table.max_wait.total_seconds()
    positions = stored_positions(warehouse, source.name, table.name)
    if isinstance(broker, Resumable):
        broker.resume(positions)  # the warehouse, not the broker, says where the table is

    def size(read: int) -> int:
        return table.max_batch if limit is None else min(table.max_batch, limit - read)

    with (
        warehouse.session() as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker") as io,
    ):
        result = DrainResult(lag_before=io.submit(broker.lag).result())
        asked = size(0)
        fetching: Future[list[Message]] | None = io.submit(broker.fetch, asked, wait)
        while fetching is not None:
            batch = fetching.result()
            if not batch:
                break
            read = result.messages + len(batch)
            more = len(batch) == asked and (limit is None or read < limit)
            if more:
                asked = size(read)
                fetching = io.submit(broker.fetch, asked, wait)
            else:
                fetching = None
            positions = _land(broker, writer, source, table, batch, positions, run_id, gate, result)
            if after_commit is not None:
                after_commit(batch)
            io.submit(broker.ack, batch).result()
            unfinished = fetching is None and (limit is None or read < limit)
            if unfinished and io.submit(broker.lag).result() != 0:
                asked = size(read)
                fetching = io.submit(broker.fetch, asked, wait)
        result.positions = positions
        result.lag_after = io.submit(broker.lag).result()
    result.seconds = time.perf_counter() - started
    return result


def _land(
    broker: Broker,
    writer: WriterSession,
    source: StreamSource,
    table: StreamTable,
    batch: list[Message],
    positions: dict[str, str],
    run_id: str | None,
    gate: Gate | None,
    result: DrainResult,
) -> dict[str, str]:
    """Commit one batch (its new messages' rows, their dead letters, the positions reached);
    returns those positions. Messages already landed (see `not_yet_landed`) are left out."""
    fresh, ordered = not_yet_landed(batch, positions)
    result.messages += len(batch)
    result.replayed += len(batch) - len(fresh)
    result.batch_sizes.append(len(batch))
    if not fresh:
        return positions
    decoded = decode(fresh, table.format, MESSAGE_ID, table.primary_key, table.column_names)
    if decoded.dead_letters and not table.dead_letter:
        first = decoded.dead_letters[0]
        raise StreamError(
            f"source {source.name!r}, table {table.name!r}: message {first.message_id} "
            f"cannot land ({first.reason}); nothing of its batch was acknowledged "
            f"(set dead_letter: true to set such messages aside)"
        )
    reached = {**positions, **broker.positions(fresh)}
    gaps = broker.gaps(fresh) if isinstance(broker, ReportsGaps) else []
    spec = stream_write_spec(source, table, ordered)
    with writer.load(source.name, table.name, run_id) as load:
        if decoded.rows.num_rows:
            load.stage(decoded.rows)
        load.source_names = decoded.source_names
        load.dead_letters = decoded.dead_letters + [_gap_letter(gap) for gap in gaps]
        load.dead_letter_key = MESSAGE_ID
        load.bytes_read = sum(len(m.payload) for m in fresh)
        loaded = load.commit(spec, json.dumps(reached, sort_keys=True), gate)
    result.batches += 1
    result.rows += loaded.inserted + loaded.updated
    result.dead_letters += len(decoded.dead_letters) + loaded.quarantined
    result.gaps += gaps
    result.loads.append(loaded)
    return reached


def _gap_letter(gap: Gap) -> DeadLetter:
    """A gap as a dead letter without payload, found where lost messages are looked for; its
    id names the publisher (or partition) and the missing positions."""
    return DeadLetter(f"gap:{gap.partition}:{gap.first}-{gap.last}", f"gap: {gap.describe()}", None)
