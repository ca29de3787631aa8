"""`broker: {type: nats}`: NATS JetStream, a durable pull consumer per table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platform_assets.config.types import Duration
from platform_assets.stream_kind.brokers.base import BrokerConfig
from resources.streams.base import Broker


class NatsBroker(BrokerConfig):
    """A NATS server with JetStream; each table's `stream` is a subject, `group` the durable
    consumer's name. `jetstream` names the JetStream stream (found from the subject when
    omitted). A message not acknowledged within `ack_wait` is redelivered."""

    type: Literal["nats"]
    url: str = Field(default="nats://127.0.0.1:4222", min_length=1)
    jetstream: str | None = None
    ack_wait: Duration | None = None
    start: Literal["earliest", "latest"] = "earliest"


def open_broker(config: NatsBroker, stream: str, group: str, consumer: str) -> Broker:
    from resources.streams.nats import NatsStream

    return NatsStream(
        url=config.resolved_url(),
        subject=stream,
        durable=group,
        jetstream=config.jetstream,
        ack_wait_seconds=config.ack_wait.total_seconds() if config.ack_wait else 60.0,
        deliver_all=config.start == "earliest",
        connect_timeout=config.connect_timeout,
        reconnect_attempts=config.reconnect_attempts,
    )
