"""`kind: files`: each table is every file matching a glob, read by DuckDB's own readers."""

from __future__ import annotations

from dagster import AssetsDefinition

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.config.files import FilesSource, FileTable
from platform_assets.factory import build_source_assets
from platform_assets.loading import Extract, write_spec
from resources.files import FileReader
from resources.warehouse import Load


def _extract(reader: FileReader, source: SourceConfig, table: TableConfig) -> Extract:
    assert isinstance(table, FileTable)

    def stage(load: Load) -> None:
        stored = None
        if table.schema_policy == "freeze":
            spec = write_spec(source, table)
            stored = load.warehouse.stored_columns(spec.target_schema, spec.target_table)
        scan = reader.scan(table, stored)
        load.bytes_read = scan.bytes
        load.source_names.update(scan.source_names)
        load.scan(scan.sql)

    return stage


def build_files_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, FilesSource)
    return build_source_assets(
        source,
        reader_key="files",
        extract_for=_extract,
        kinds_of=lambda t: {t.format} if isinstance(t, FileTable) and t.format else set(),
    )
