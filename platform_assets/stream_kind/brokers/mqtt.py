"""`broker: {type: mqtt}`: a QoS 1 subscription in a persistent session, each message
acknowledged after the warehouse commit; numbered messages reveal what the broker dropped."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Literal

from pydantic import Field

from platform_assets.config.types import Duration, Identifier
from platform_assets.stream_kind.brokers.base import BrokerConfig
from resources.streams.base import Broker


class MqttBroker(BrokerConfig):
    """An MQTT 5 broker; each table's `stream` is a topic filter, consumed by a fixed client id
    (see `client_id`) whose session the broker keeps for `session_expiry` between runs.

    `sequence_field` names an integer field of the JSON payloads that each publisher (told
    apart by `publisher_field`, else by topic) raises by one per message: a message's id is
    then `publisher:number`, and a skipped number is reported as a gap (a dead letter with
    reason `gap` and run metadata): messages the broker dropped."""

    type: Literal["mqtt"]
    url: str = Field(default="mqtt://127.0.0.1:1883", min_length=1)
    qos: Literal[1] = 1
    session_expiry: Duration = timedelta(days=7)
    sequence_field: Identifier | None = None
    publisher_field: Identifier | None = None


def client_id(group: str, consumer: str, topic: str) -> str:
    """`group-consumer-<digest of the topic filter>`: the same every run (the broker keeps the
    session by it), different for each table of a consumer."""
    return f"{group}-{consumer}-{hashlib.sha256(topic.encode()).hexdigest()[:10]}"


def open_broker(config: MqttBroker, stream: str, group: str, consumer: str) -> Broker:
    from resources.streams.mqtt import MqttSubscriber

    return MqttSubscriber(
        config.resolved_url(),
        stream,
        client_id(group, consumer, stream),
        session_expiry_seconds=int(config.session_expiry.total_seconds()),
        sequence_field=config.sequence_field,
        publisher_field=config.publisher_field,
        connect_timeout=config.connect_timeout,
        reconnect_attempts=config.reconnect_attempts,
    )
