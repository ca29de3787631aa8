"""`kind: files`: each table is every file matching a glob, read by DuckDB's own readers.

One folder: `config` (the catalog models), `reader` (listing the files and planning the one
DuckDB query that reads them), `assets` (the Dagster wiring: the query runs inside the load's
transaction, against the file ledger). `KIND` is registered the way a third-party kind
registers itself.
"""

from __future__ import annotations

from platform_assets import settings
from platform_assets.files_kind.assets import build_files_assets
from platform_assets.files_kind.config import FilesSource
from platform_assets.files_kind.reader import FileReader
from platform_assets.source_kind import SourceKind

KIND = SourceKind(
    name="files",
    config=FilesSource,
    build_assets=build_files_assets,
    resources=lambda: {"files": FileReader(root=str(settings.project_root()))},
)

__all__ = ["KIND"]
