"""`kind: files`: each table is every file matching a glob, read by DuckDB's own readers."""

from __future__ import annotations

from dagster import AssetsDefinition

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.config.files import FilesSource, FileTable
from platform_assets.factory import build_source_assets
from platform_assets.loading import Extract
from resources.files import FileReader
from resources.warehouse import Load


def _extract(reader: FileReader, _source: SourceConfig, table: TableConfig) -> Extract:
    assert isinstance(table, FileTable)

    def stage(load: Load) -> None:
        load.scan_files(
            lambda: reader.versions(table),
            lambda versions: reader.scan(table, [v.path for v in versions]).sql,
        )

    return stage


def build_files_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, FilesSource)
    return build_source_assets(
        source,
        reader_key="files",
        extract_for=_extract,
        kinds_of=lambda t: {t.format} if isinstance(t, FileTable) and t.format else set(),
    )
