"""`kind: stream`: tables drained from message brokers (Redis Streams, NATS JetStream, ...).

One folder: `config` (the catalog model), `brokers` (each broker's settings and opener, over
the ground-floor adapters in `resources.streams`), `reader` (messages to Arrow and dead
letters), `drain` (batch -> one commit -> ack), `assets` (the Dagster wiring). `KIND` is
registered the way a third-party kind registers itself; the lag sensors are in `sensors/`.
"""

from __future__ import annotations

from platform_assets.source_kind import SourceKind
from platform_assets.stream_kind.assets import StreamConsumers, build_stream_assets
from platform_assets.stream_kind.config import StreamSource

KIND = SourceKind(
    name="stream",
    config=StreamSource,
    build_assets=build_stream_assets,
    resources=lambda: {"streams": StreamConsumers()},
)

__all__ = ["KIND"]
