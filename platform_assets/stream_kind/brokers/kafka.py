"""`broker: {type: kafka}`: settings only; the adapter is registered in `brokers/__init__.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platform_assets.stream_kind.brokers.base import BrokerConfig


class KafkaBroker(BrokerConfig):
    """A Kafka cluster; `url` is the bootstrap servers (`host:port[,host:port]`), each table's
    `stream` a topic and `group` the consumer group. `options` go to librdkafka as they are."""

    type: Literal["kafka"]
    url: str = Field(min_length=1)
    start: Literal["earliest", "latest"] = "earliest"
    options: dict[str, str] = Field(default_factory=dict)
