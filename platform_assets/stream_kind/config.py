"""`kind: stream`: tables drained from a message broker in micro-batches.

```yaml
name: signals
kind: stream
broker: {type: redis, url: "${REDIS_URL:-redis://127.0.0.1:6379/0}"}
trigger: continuous
tables:
  - name: pulse_signals
    stream: pulse_signals
    group: tributary
    format: json
    primary_key: signal_id
    write: merge
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.config.types import Duration
from platform_assets.stream_kind.brokers import OPENERS, BrokerSettings

MESSAGE_ID = "_message_id"
"""The column each row carries: the broker's id of the message it came from. Rows of a table
without a primary key are deduplicated on it when messages are delivered again."""


class StreamTable(TableConfig):
    """One stream (topic, stream key, subject, queue) consumed by `group` into one table.

    `write: append` keeps every message once (deduplicated on `_message_id`); `write: merge`
    keeps the latest row per `primary_key`. A run drains the stream in batches of at most
    `max_batch` messages, waiting at most `max_wait` for a batch to fill, until nothing waits or
    `max_messages` (per run) are read."""

    stream: str = Field(min_length=1, max_length=255, pattern=r"^[^\s]+$")
    group: str = Field(default="tributary", min_length=1, max_length=255, pattern=r"^[\w.-]+$")
    format: Literal["json", "jsonl", "text"] = "json"
    write: Literal["append", "merge"] = "append"
    max_batch: int = Field(default=50_000, ge=1, le=1_000_000)
    max_wait: Duration = timedelta(seconds=5)
    max_messages: int | None = Field(default=None, ge=1)
    dead_letter: bool = True
    """Malformed messages and rows failing an `error` check go to `_tributary.dead_letters`
    and are acknowledged; with false such a message fails the run (nothing acknowledged)."""

    @model_validator(mode="before")
    @classmethod
    def _stream_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # A batch with no new message is normal; a failing row must not hold the stream
            # back, so rows failing `error` checks are set aside (and dead-lettered).
            data = {"allow_empty": True, "on_fail": "quarantine_rows", **data}
        return data

    @model_validator(mode="after")
    def _no_blocking_checks(self) -> StreamTable:
        if self.on_fail == "block":
            raise ValueError(
                "on_fail: block would hold every later message back behind one failing batch; "
                "stream tables use quarantine_rows (failing rows go to dead letters) or warn"
            )
        if self.write == "append" and self.primary_key:
            raise ValueError(
                "primary_key with write: append: use write: merge to keep one row per key "
                "(append deduplicates redelivered messages on _message_id)"
            )
        return self

    @property
    def dedupe_key(self) -> tuple[str, ...]:
        """The columns a redelivered message is recognised by."""
        return tuple(self.primary_key) or (MESSAGE_ID,)


class StreamSource(SourceConfig):
    """Tables consumed from one broker. `trigger: continuous` has a sensor start a run of a
    table whenever messages wait; `trigger: schedule` runs on `schedule`."""

    # The broker's own fields resolve `${VAR}` themselves, except its `url` (a run does).
    run_time_fields: ClassVar[frozenset[str]] = frozenset({"broker"})
    kind: Literal["stream"]
    broker: BrokerSettings
    trigger: Literal["continuous", "schedule"] = "continuous"
    sensor_interval: Duration = timedelta(seconds=30)
    """How often the continuous sensor asks the broker for the lag."""
    lag_alert: int | None = Field(default=None, ge=0)
    """Messages waiting after a run beyond which the lag check fails (warns at half)."""
    tables: tuple[StreamTable, ...]

    @model_validator(mode="after")
    def _trigger_fits(self) -> StreamSource:
        if self.trigger == "schedule" and self.schedule is None:
            raise ValueError("trigger: schedule needs a schedule (a cron expression)")
        if self.trigger == "continuous" and self.schedule is not None:
            raise ValueError(
                "schedule: a continuous source runs when messages wait; "
                "use trigger: schedule to run on a schedule"
            )
        if self.broker.type not in OPENERS:
            raise ValueError(
                f"broker.type: {self.broker.type!r} has no adapter in this installation "
                f"(available: {', '.join(sorted(OPENERS))})"
            )
        return self
