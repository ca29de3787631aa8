"""`broker: {type: redis}`: Redis Streams, consumed with XREADGROUP and acknowledged with XACK."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platform_assets.config.types import Duration
from platform_assets.stream_kind.brokers.base import BrokerConfig
from resources.streams.base import Broker


class RedisBroker(BrokerConfig):
    """A Redis server; each table's `stream` is a stream key, `group` a consumer group (created
    at `start` when missing). Entries delivered but not acknowledged for `claim_idle` are
    claimed by the next run (a consumer that died)."""

    type: Literal["redis"]
    url: str = Field(default="redis://127.0.0.1:6379/0", min_length=1)
    start: Literal["earliest", "latest"] = "earliest"
    field: str | None = Field(default="payload", min_length=1)
    """The entry field holding the message; null: every field, as one JSON object."""
    claim_idle: Duration | None = None
    """Idle time after which other consumers' pending entries are claimed (default: at once,
    since one run of a table consumes at a time)."""


def open_broker(config: RedisBroker, stream: str, group: str, consumer: str) -> Broker:
    from resources.streams.redis import RedisStream

    return RedisStream(
        url=config.resolved_url(),
        stream=stream,
        group=group,
        consumer=consumer,
        start="0" if config.start == "earliest" else "$",
        field=config.field,
        claim_idle_ms=int(config.claim_idle.total_seconds() * 1000) if config.claim_idle else 0,
        connect_timeout=config.connect_timeout,
        reconnect_attempts=config.reconnect_attempts,
    )
