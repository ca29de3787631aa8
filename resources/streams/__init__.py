"""Message broker adapters (ground floor): each takes plain arguments and gives a `Broker`."""

from resources.streams.base import Broker, BrokerError, Message, last_positions

__all__ = ["Broker", "BrokerError", "Message", "last_positions"]
