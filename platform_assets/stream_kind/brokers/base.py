"""What a broker brings to `kind: stream`: its catalog settings (`broker: {type: ..., ...}`)
and an opener that turns them into a ground-floor `resources.streams.Broker`.

Each broker is one module of this package with a `<Name>Broker(BrokerConfig)` model whose `type`
is a Literal, and one `open_broker(config, stream, group, consumer) -> Broker` function; the
registry in `brokers/__init__.py` lists both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from platform_assets.config.types import CatalogModel
from resources.env import interpolate
from resources.streams.base import Broker


class BrokerConfig(CatalogModel):
    """Settings every broker shares. `url` keeps its `${VAR}` template until a run resolves it
    (it may carry a password); `options` are passed to the client library as they are."""

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"url"})
    type: str
    url: str = Field(min_length=1)
    connect_timeout: float = Field(default=10.0, gt=0, description="seconds")
    reconnect_attempts: int = Field(default=8, ge=0, le=100)
    """Attempts to reconnect a dropped connection (exponential backoff, jittered) before the
    run fails with nothing acknowledged."""

    def resolved_url(self) -> str:
        """`url` with its `${VAR}` references resolved (raises MissingVariableError)."""
        return interpolate(self.url)


Opener = Callable[[Any, str, str, str], Broker]
"""`open_broker(config, stream, group, consumer)`: a connected consumer of `stream` in `group`
(consumer group, durable consumer, queue) named `consumer`. Raises BrokerError."""
