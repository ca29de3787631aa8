"""`broker: {type: kafka}`: a topic consumed in a consumer group; each partition's offset is
stored in the warehouse with the rows, the group commit follows the warehouse commit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from platform_assets.stream_kind.brokers.base import BrokerConfig
from resources.streams.base import Broker
from resources.streams.kafka import reserved_option


class KafkaBroker(BrokerConfig):
    """A Kafka cluster; `url` is the bootstrap servers (`host:port[,host:port]`), each table's
    `stream` a topic and `group` the consumer group. A partition the warehouse has no offset
    for starts at `start`. `options` go to librdkafka as they are (security, timeouts), except
    the settings the guarantee rests on (auto-commit off, read committed) and those the catalog
    gives by name."""

    type: Literal["kafka"]
    url: str = Field(min_length=1)
    start: Literal["earliest", "latest"] = "earliest"
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _not_reserved(cls, options: dict[str, str]) -> dict[str, str]:
        for name in options:
            if why := reserved_option(name):
                raise ValueError(f"{name!r} {why}")
        return options


def open_broker(config: KafkaBroker, stream: str, group: str, consumer: str) -> Broker:
    from resources.streams.kafka import KafkaConsumer

    return KafkaConsumer(
        config.resolved_url(),
        stream,
        group,
        client_id=consumer,
        start=config.start,
        options=config.options,
        connect_timeout=config.connect_timeout,
        reconnect_attempts=config.reconnect_attempts,
    )
