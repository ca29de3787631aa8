"""Reconnecting with backoff, the same way for every broker adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from resources.streams.base import BrokerError

_T = TypeVar("_T")


def with_reconnect(
    action: Callable[[], _T],
    transient: tuple[type[BaseException], ...],
    attempts: int,
    what: str,
    before_retry: Callable[[], None] | None = None,
    max_wait: float = 5.0,
) -> _T:
    """`action()`, retried on `transient` errors with jittered exponential backoff (0.1 s
    doubling up to `max_wait` s) at most `attempts` more times; `before_retry` runs before each
    retry (reconnect, rescan pending messages). Raises BrokerError naming `what` when retries
    run out."""
    retrying = Retrying(
        retry=retry_if_exception_type(transient),
        stop=stop_after_attempt(attempts + 1),
        wait=wait_random_exponential(multiplier=0.1, max=max_wait),
        before_sleep=(lambda _state: before_retry()) if before_retry else None,
        reraise=True,
    )
    try:
        return retrying(action)
    except transient as error:
        raise BrokerError(f"{what}: {type(error).__name__}: {error}") from error
