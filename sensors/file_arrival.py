"""`trigger: on_arrival`: a sensor per files source that runs the tables whose files are new or
changed. The cursor remembers every matching file's size and modification time, and each run
request's key is derived from the changes, so the same file version never triggers twice.

The first tick (no cursor: the sensor was never evaluated on this instance) only records the
files already there: starting the daemon launches no run nobody asked for. Files present before
that are loaded by `tributary run` (or a schedule), which reads whatever its ledger lacks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from platform_assets.config.base import SourceConfig
from platform_assets.files_kind.config import FilesSource, FileTable
from platform_assets.files_kind.reader import FileReader, FileReadError

if TYPE_CHECKING:  # what `define_asset_job` returns; Dagster exports it under no public name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

FileVersions = dict[str, list[int]]
"""Path → [size in bytes, modification time in ns]."""


def sensor_name(source: SourceConfig) -> str:
    return f"{source.name}_file_arrival"


def file_versions(reader: FileReader, table: FileTable) -> FileVersions:
    versions: FileVersions = {}
    try:
        paths = reader.matching_files(table)
    except FileReadError:
        return versions
    for path in paths:
        stat = path.stat()
        versions[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return versions


def _changes(
    reader: FileReader, source: FilesSource, seen: FileVersions
) -> Iterator[tuple[FileTable, FileVersions, FileVersions]]:
    """Each table with its current file versions and those of them that are new or changed."""
    for table in source.tables:
        current = file_versions(reader, table)
        changed = {path: v for path, v in current.items() if seen.get(path) != v}
        yield table, current, changed


def build_file_arrival_sensor(
    source: FilesSource, reader: FileReader, job: UnresolvedAssetJobDefinition
) -> SensorDefinition:
    """The source's sensor: its run requests launch `job` (a job of every table, shared by
    every sensor and schedule) with the changed tables as the asset selection."""

    @sensor(
        name=sensor_name(source),
        job=job,
        minimum_interval_seconds=30,
        description=f"Runs {source.name}'s tables when a matching file is new or changed.",
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _arrival(context: SensorEvaluationContext) -> SensorResult:
        seen: FileVersions = json.loads(context.cursor) if context.cursor else {}
        requests: list[AssetKey] = []
        arrived: FileVersions = {}
        versions: FileVersions = {}
        for table, current, changed in _changes(reader, source, seen):
            versions.update(current)
            if changed:
                requests.append(AssetKey([source.name, table.name]))
                arrived.update(changed)
        cursor = json.dumps(versions, sort_keys=True)
        if not requests or context.cursor is None:
            return SensorResult(run_requests=[], cursor=cursor)
        digest = hashlib.sha256(json.dumps(arrived, sort_keys=True).encode()).hexdigest()[:16]
        request = RunRequest(
            run_key=f"{source.name}:{digest}",
            asset_selection=requests,
            tags={
                "tributary/source": source.name,
                "tributary/trigger": "on_arrival",
                "tributary/files": ", ".join(sorted(arrived))[:1000],
            },
        )
        return SensorResult(run_requests=[request], cursor=cursor)

    return _arrival


def build_file_arrival_sensors(
    sources: tuple[SourceConfig, ...], reader: FileReader, job: UnresolvedAssetJobDefinition
) -> list[SensorDefinition]:
    return [
        build_file_arrival_sensor(source, reader, job)
        for source in sources
        if isinstance(source, FilesSource) and source.trigger == "on_arrival"
    ]
