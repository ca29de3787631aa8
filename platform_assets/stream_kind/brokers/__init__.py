"""The brokers `kind: stream` knows: `broker.type` -> (settings model, opener).

Adding a broker: a module here with its `BrokerConfig` model and `open_broker`, its model in
`BrokerSettings`, and one line in `OPENERS`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from platform_assets.stream_kind.brokers import kafka, mqtt, nats, rabbitmq, redis
from platform_assets.stream_kind.brokers.base import BrokerConfig, Opener
from platform_assets.stream_kind.brokers.kafka import KafkaBroker
from platform_assets.stream_kind.brokers.mqtt import MqttBroker
from platform_assets.stream_kind.brokers.nats import NatsBroker
from platform_assets.stream_kind.brokers.rabbitmq import RabbitMQBroker
from platform_assets.stream_kind.brokers.redis import RedisBroker


def _broker_type(value: Any) -> str | None:
    # A callable discriminator: catalog models resolve `${VAR}` in every field before
    # validating it, which pydantic's field discriminator does not allow.
    found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return found if isinstance(found, str) else None


BrokerSettings = Annotated[
    Annotated[RedisBroker, Tag("redis")]
    | Annotated[NatsBroker, Tag("nats")]
    | Annotated[KafkaBroker, Tag("kafka")]
    | Annotated[RabbitMQBroker, Tag("rabbitmq")]
    | Annotated[MqttBroker, Tag("mqtt")],
    Discriminator(
        _broker_type,
        custom_error_type="broker_type",
        custom_error_message="broker.type must be one of kafka, redis, nats, rabbitmq, mqtt",
    ),
]
"""`broker:` of a stream source: each type validates its own settings."""

OPENERS: dict[str, Opener] = {
    "redis": redis.open_broker,
    "kafka": kafka.open_broker,
    "mqtt": mqtt.open_broker,
    "nats": nats.open_broker,
    "rabbitmq": rabbitmq.open_broker,
}
"""Broker type -> the function that connects a consumer (see `brokers.base.Opener`)."""

__all__ = ["OPENERS", "BrokerConfig", "BrokerSettings", "Opener"]
