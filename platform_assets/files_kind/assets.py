"""`kind: files`: each table is every file matching a glob, read by DuckDB's own readers."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetsDefinition

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.factory import build_source_assets
from platform_assets.files_kind.config import FilesSource, FileTable
from platform_assets.files_kind.reader import FileReader
from platform_assets.loading import Extract, write_spec
from resources.file_ledger import FileVersion
from resources.warehouse import Load


def _extract(reader: FileReader, source: SourceConfig, table: TableConfig) -> Extract:
    assert isinstance(table, FileTable)

    def stage(load: Load) -> None:
        stored = None
        if table.schema_policy == "freeze":
            spec = write_spec(source, table)
            stored = load.warehouse.stored_columns(spec.target_schema, spec.target_table)

        def rows_sql(versions: Sequence[FileVersion]) -> str:
            scan = reader.scan(table, [v.path for v in versions], stored)
            load.source_names.update(scan.source_names)
            return scan.sql

        load.scan_files(lambda: reader.versions(table), rows_sql)

    return stage


def build_files_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, FilesSource)
    return build_source_assets(
        source,
        reader_key="files",
        extract_for=_extract,
        kinds_of=lambda t: {t.format} if isinstance(t, FileTable) and t.format else set(),
    )
