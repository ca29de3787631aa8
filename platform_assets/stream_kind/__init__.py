"""`kind: stream`: tables drained from message brokers (Redis Streams, NATS JetStream, ...).

One folder: `config` (the catalog model), `brokers` (each broker's settings and opener, over
the ground-floor adapters in `resources.streams`), `reader` (messages to Arrow and dead
letters), `drain` (batch -> one commit -> ack), `assets` (the Dagster wiring). `KIND` is
registered the way a third-party kind registers itself; the lag sensors are in `sensors/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from platform_assets.config.base import SourceConfig
from platform_assets.source_kind import SourceKind
from platform_assets.stream_kind.config import StreamSource

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource


# The Dagster wiring loads only when definitions are built (see `SourceKind`).
def _build_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.stream_kind.assets import build_stream_assets

    return build_stream_assets(source)


def _resources() -> Mapping[str, ConfigurableResource]:
    from platform_assets.stream_kind.assets import StreamConsumers

    return {"streams": StreamConsumers()}


KIND = SourceKind(
    name="stream", config=StreamSource, build_assets=_build_assets, resources=_resources
)

__all__ = ["KIND"]
