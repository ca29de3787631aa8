"""`broker: {type: rabbitmq}`: settings only; the adapter is registered in `brokers/__init__.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platform_assets.stream_kind.brokers.base import BrokerConfig


class RabbitMQBroker(BrokerConfig):
    """A RabbitMQ server; each table's `stream` is a queue (`group` is informational: a queue's
    consumers share its messages)."""

    type: Literal["rabbitmq"]
    url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/%2f", min_length=1)
    prefetch: int = Field(default=1000, ge=1, le=65535)
