"""Cron strings without Dagster: validated as Dagster's schedules read them, and their next tick.

Catalog validation and `tributary sources` need both; importing Dagster for them would cost every
command Dagster's start-up.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

_FEBRUARY = 2


@lru_cache(maxsize=4096)  # a catalog repeats a few schedules over many sources
def is_valid_cron(value: str) -> bool:
    """True if `value` is a five-field cron string that Dagster schedules accept (no seconds
    field, no day that never comes such as `0 0 30 2 *`)."""
    if not croniter.is_valid(value):
        return False
    expanded, *_ = croniter.expand(value)
    if len(expanded) != 5:
        return False
    days, months = expanded[2], expanded[3]
    return not (months == [_FEBRUARY] and len(days) == 1 and days[0] in (30, 31))


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after `after` (timezone-aware) at which `cron` fires, read in
    `timezone` (an IANA name); returned in that zone. Raises ValueError for an invalid cron."""
    if not is_valid_cron(cron):
        raise ValueError(f"{cron!r} is not a valid cron string")
    tick: datetime = croniter(cron, after.astimezone(ZoneInfo(timezone))).get_next(datetime)
    return tick
