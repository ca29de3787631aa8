"""One schedule per catalog source with a `schedule`: it runs every table of that source.

Every schedule launches the one job of all tables (`ingest`) with its source's tables as the
run's asset selection. A schedule that targeted its own selection would make Dagster build a job
per schedule, each resolved against every asset of the catalog: work that grows with the square
of the catalog whenever definitions are validated or served."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
)

from platform_assets.config.base import SourceConfig
from resources.cron import next_tick

if TYPE_CHECKING:  # what `define_asset_job` returns; Dagster exports it under no public name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def schedule_name(source: SourceConfig) -> str:
    return f"{source.name}_schedule"


def build_schedule(
    source: SourceConfig, job: UnresolvedAssetJobDefinition
) -> ScheduleDefinition | None:
    """The source's schedule: each tick requests a run of `job` (a job of every table) that
    selects the source's tables; None for a source without a `schedule`."""
    if not source.schedule:
        return None
    keys = [AssetKey([source.name, t.name]) for t in source.tables]
    tags = {"tributary/source": source.name, "tributary/trigger": "schedule"}

    def _tick(context: ScheduleEvaluationContext) -> RunRequest:
        return RunRequest(asset_selection=keys, tags=tags)

    return ScheduleDefinition(
        name=schedule_name(source),
        job=job,
        cron_schedule=source.schedule,
        execution_timezone=source.timezone,
        execution_fn=_tick,
        description=f"Runs every table of source {source.name!r}.",
        default_status=DefaultScheduleStatus.RUNNING,
    )


def build_schedules(
    sources: tuple[SourceConfig, ...], job: UnresolvedAssetJobDefinition
) -> list[ScheduleDefinition]:
    return [s for s in (build_schedule(source, job) for source in sources) if s is not None]


def next_run(source: SourceConfig, after: datetime | None = None) -> datetime | None:
    """The first time strictly after `after` (default now) that the source's schedule fires."""
    if not source.schedule:
        return None
    return next_tick(source.schedule, source.timezone, after or datetime.now(UTC))
