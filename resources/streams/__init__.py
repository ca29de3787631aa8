"""Message broker adapters (ground floor): each takes plain arguments and gives a `Broker`."""

from resources.streams.base import (
    Broker,
    BrokerError,
    Gap,
    Message,
    ReportsGaps,
    Resumable,
    last_positions,
)

__all__ = [
    "Broker",
    "BrokerError",
    "Gap",
    "Message",
    "ReportsGaps",
    "Resumable",
    "last_positions",
]
