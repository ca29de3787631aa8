"""`broker: {type: rabbitmq}`: a queue consumed with manual acks, one `basic_ack(multiple=True)`
per batch after the warehouse commit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platform_assets.stream_kind.brokers.base import BrokerConfig
from resources.streams.base import Broker


class RabbitMQBroker(BrokerConfig):
    """A RabbitMQ server; each table's `stream` is a queue (declared by its owner, not by the
    platform), `group` is informational: a queue's consumers share its messages. `prefetch`
    (deliveries sent ahead, unacknowledged) defaults to the table's `max_batch`, at most 65535.
    Publishers should set `message_id`: without it a redelivered message is recognised by its
    body (identical bodies count as one) unless the table has a `primary_key`."""

    type: Literal["rabbitmq"]
    url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/%2f", min_length=1)
    prefetch: int | None = Field(default=None, ge=1, le=65535)


def open_broker(config: RabbitMQBroker, stream: str, group: str, consumer: str) -> Broker:
    from resources.streams.rabbitmq import RabbitMQConsumer

    return RabbitMQConsumer(
        config.resolved_url(),
        stream,
        prefetch=config.prefetch,
        connection_name=consumer,
        connect_timeout=config.connect_timeout,
        reconnect_attempts=config.reconnect_attempts,
    )
