"""`broker: {type: mqtt}`: settings only; the adapter is registered in `brokers/__init__.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platform_assets.stream_kind.brokers.base import BrokerConfig


class MqttBroker(BrokerConfig):
    """An MQTT broker (QoS 1, persistent session); each table's `stream` is a topic filter and
    `group` the client id's prefix."""

    type: Literal["mqtt"]
    url: str = Field(default="mqtt://127.0.0.1:1883", min_length=1)
    qos: Literal[1] = 1
