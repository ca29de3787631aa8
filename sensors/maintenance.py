"""Compaction of a DuckLake warehouse as a Dagster job on a schedule.

Every commit to a DuckLake writes at least one Parquet file and one snapshot; small loads leave
many small files, and every snapshot keeps the files it read. The `lake_maintenance` job merges
adjacent small files, expires snapshots older than its `older_than_days` and deletes the files
no snapshot needs any more. It runs beside loads.
"""

from datetime import timedelta

from dagster import (
    Config,
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from resources.warehouse import Warehouse

MAINTENANCE_JOB = "lake_maintenance"
MAINTENANCE_CRON = "0 3 * * *"
"""Daily at 03:00 (UTC unless the schedule's timezone is changed)."""
DEFAULT_RETENTION_DAYS = 7.0


class MaintenanceConfig(Config):
    older_than_days: float = Field(
        default=DEFAULT_RETENTION_DAYS,
        ge=0,
        description="Expire snapshots older than this: time travel reaches no further back.",
    )


@op(description="Merge small Parquet files, expire old snapshots, delete unreferenced files.")
def compact_lake(
    context: OpExecutionContext, config: MaintenanceConfig, warehouse: Warehouse
) -> None:
    done = warehouse.maintain(timedelta(days=config.older_than_days))
    context.add_output_metadata(
        {
            "merged_files": done.merged_files,
            "expired_snapshots": done.expired_snapshots,
            "deleted_files": done.deleted_files,
        }
    )


@job(name=MAINTENANCE_JOB, description="Compaction of the DuckLake warehouse.")
def lake_maintenance_job() -> None:
    compact_lake()


def build_maintenance(cron: str = MAINTENANCE_CRON) -> tuple[JobDefinition, ScheduleDefinition]:
    """The compaction job and its daily schedule (running by default)."""
    schedule = ScheduleDefinition(
        name=f"{MAINTENANCE_JOB}_schedule",
        job=lake_maintenance_job,
        cron_schedule=cron,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Compacts the DuckLake warehouse daily.",
    )
    return lake_maintenance_job, schedule
