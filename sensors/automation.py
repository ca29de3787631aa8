"""Every schedule and sensor the catalog asks for, in one place for `build_definitions`."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    ScheduleDefinition,
    SensorDefinition,
)

from platform_assets.config.base import SourceConfig
from resources.files import FileReader
from sensors.failures import build_failure_sensor
from sensors.file_arrival import build_file_arrival_sensors
from sensors.freshness import build_freshness_sensor
from sensors.schedules import build_schedules
from sensors.stream_lag import build_stream_sensors


def build_sensors_and_schedules(
    sources: tuple[SourceConfig, ...], reader: FileReader
) -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
    sensors = [
        *build_file_arrival_sensors(sources, reader),
        *build_stream_sensors(sources),
        build_failure_sensor(),
        AutomationConditionSensorDefinition(
            "model_automation",
            target=AssetSelection.all(),
            default_status=DefaultSensorStatus.RUNNING,
            description="Materializes models after their upstream tables update.",
        ),
    ]
    freshness = build_freshness_sensor(sources)
    if freshness is not None:
        sensors.append(freshness)
    return build_schedules(sources), sensors
