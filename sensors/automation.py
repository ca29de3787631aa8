"""Every schedule and sensor the catalog asks for, in one place for `build_definitions`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    ScheduleDefinition,
    SensorDefinition,
)

from platform_assets.config.base import SourceConfig
from platform_assets.files_kind.reader import FileReader
from sensors.failures import build_failure_sensor
from sensors.file_arrival import build_file_arrival_sensors
from sensors.freshness import build_freshness_sensor
from sensors.schedules import build_schedules

if TYPE_CHECKING:  # what `define_asset_job` returns; Dagster exports it under no public name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def build_sensors_and_schedules(
    sources: tuple[SourceConfig, ...], reader: FileReader, job: UnresolvedAssetJobDefinition
) -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
    """The catalog's schedules and sensors; those that launch loads launch `job`, the job of
    every table, each with its own asset selection."""
    kinds = {source.kind for source in sources}
    sensors = [
        *build_file_arrival_sensors(sources, reader, job),
        build_failure_sensor(),
        AutomationConditionSensorDefinition(
            "model_automation",
            target=AssetSelection.all(),
            default_status=DefaultSensorStatus.RUNNING,
            description="Materializes models after their upstream tables update.",
        ),
    ]
    # The stream and change-capture sensors read their kinds' models and clients: they load
    # for a catalog with such sources only.
    if "stream" in kinds:
        from sensors.stream_lag import build_stream_sensors

        sensors[1:1] = build_stream_sensors(sources, job)
    optional = [build_freshness_sensor(sources)]
    if "sql" in kinds:
        from sensors.cdc_lag import build_cdc_lag_sensor

        optional.append(build_cdc_lag_sensor(sources))
    sensors.extend(sensor for sensor in optional if sensor is not None)
    return build_schedules(sources, job), sensors
