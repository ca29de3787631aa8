"""One schedule per catalog source with a `schedule`: it runs every table of that source."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetKey, AssetSelection, DefaultScheduleStatus, ScheduleDefinition

from platform_assets.config.base import SourceConfig
from resources.cron import next_tick


def schedule_name(source: SourceConfig) -> str:
    return f"{source.name}_schedule"


def build_schedule(source: SourceConfig) -> ScheduleDefinition | None:
    if not source.schedule:
        return None
    return ScheduleDefinition(
        name=schedule_name(source),
        target=AssetSelection.assets(*(AssetKey([source.name, t.name]) for t in source.tables)),
        cron_schedule=source.schedule,
        execution_timezone=source.timezone,
        description=f"Runs every table of source {source.name!r}.",
        tags={"tributary/source": source.name, "tributary/trigger": "schedule"},
        default_status=DefaultScheduleStatus.RUNNING,
    )


def build_schedules(sources: tuple[SourceConfig, ...]) -> list[ScheduleDefinition]:
    return [s for s in (build_schedule(source) for source in sources) if s is not None]


def next_run(source: SourceConfig, after: datetime | None = None) -> datetime | None:
    """The first time strictly after `after` (default now) that the source's schedule fires."""
    if not source.schedule:
        return None
    return next_tick(source.schedule, source.timezone, after or datetime.now(UTC))
