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
from dataclasses import dataclass, field

from platform_assets.stream_kind.config import MESSAGE_ID, StreamSource, StreamTable
from platform_assets.stream_kind.reader import decode
from resources.errors import TributaryError
from resources.quarantine import DeadLetter
from resources.streams.base import Broker, Gap, Message, ReportsGaps, Resumable
from resources.warehouse import Gate, LoadResult, Warehouse
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
    seconds: float = 0.0

    def metadata(self) -> dict[str, object]:
        loads = self.loads
        data: dict[str, object] = {
            "write": "merge",
            "batches": self.batches,
            "messages": self.messages,
            "rows_in": sum(load.rows_in for load in loads),
            "rows_inserted": sum(load.inserted for load in loads),
            "rows_updated": sum(load.updated for load in loads),
            "rows_deleted": 0,
            "rows_superseded": sum(load.superseded for load in loads),
            "rows_quarantined": sum(load.quarantined for load in loads),
            "dead_letters": self.dead_letters,
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


def stream_write_spec(source: StreamSource, table: StreamTable) -> WriteSpec:
    """Every stream table merges: on its primary key, else on the message id (so a message
    delivered twice lands once)."""
    return WriteSpec(
        target_schema=source.name,
        target_table=table.name,
        write="merge",
        primary_key=table.dedupe_key,
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
    `after_commit` runs between a batch's commit and its ack (tests kill the process there)."""
    started = time.perf_counter()
    positions = stored_positions(warehouse, source.name, table.name)
    if isinstance(broker, Resumable):
        broker.resume(positions)  # the warehouse, not the broker, says where the table is
    result = DrainResult(lag_before=broker.lag())
    spec = stream_write_spec(source, table)
    wait = table.max_wait.total_seconds()
    limit = table.max_messages
    while limit is None or result.messages < limit:
        size = table.max_batch if limit is None else min(table.max_batch, limit - result.messages)
        batch = broker.fetch(size, wait)
        if not batch:
            break
        decoded = decode(batch, table.format, MESSAGE_ID, table.primary_key, table.column_names)
        if decoded.dead_letters and not table.dead_letter:
            first = decoded.dead_letters[0]
            raise StreamError(
                f"source {source.name!r}, table {table.name!r}: message {first.message_id} "
                f"cannot land ({first.reason}); nothing of its batch was acknowledged "
                f"(set dead_letter: true to set such messages aside)"
            )
        positions = {**positions, **broker.positions(batch)}
        gaps = broker.gaps() if isinstance(broker, ReportsGaps) else []
        with warehouse.load(source.name, table.name, run_id) as load:
            if decoded.rows.num_rows:
                load.stage(decoded.rows)
            load.source_names = decoded.source_names
            load.dead_letters = decoded.dead_letters + [_gap_letter(gap) for gap in gaps]
            load.dead_letter_key = MESSAGE_ID
            load.bytes_read = sum(len(m.payload) for m in batch)
            loaded = load.commit(spec, json.dumps(positions, sort_keys=True), gate)
        if after_commit is not None:
            after_commit(batch)
        broker.ack(batch)
        result.batches += 1
        result.messages += len(batch)
        result.batch_sizes.append(len(batch))
        result.rows += loaded.inserted + loaded.updated
        result.dead_letters += len(decoded.dead_letters) + loaded.quarantined
        result.gaps += gaps
        result.loads.append(loaded)
        if len(batch) < size and broker.lag() == 0:
            break  # drained: do not wait `max_wait` for a batch that is not coming
    result.positions = positions
    result.lag_after = broker.lag()
    result.seconds = time.perf_counter() - started
    return result


def _gap_letter(gap: Gap) -> DeadLetter:
    """A gap as a dead letter without payload, so it is found where lost messages are looked
    for; its id names the publisher (or partition) and the missing positions."""
    return DeadLetter(f"gap:{gap.partition}:{gap.first}-{gap.last}", f"gap: {gap.describe()}", None)
