"""`kind: files`: each table is every file matching a glob, read by DuckDB's own readers.

One folder: `config` (the catalog models), `reader` (listing the files and planning the one
DuckDB query that reads them), `assets` (the Dagster wiring: the query runs inside the load's
transaction, against the file ledger). `KIND` is registered the way a third-party kind
registers itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from platform_assets import settings
from platform_assets.config.base import SourceConfig
from platform_assets.files_kind.config import FilesSource
from platform_assets.source_kind import SourceKind

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource


# The Dagster wiring loads only when definitions are built (see `SourceKind`).
def _build_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.files_kind.assets import build_files_assets

    return build_files_assets(source)


def _resources() -> Mapping[str, ConfigurableResource]:
    from platform_assets.files_kind.reader import FileReader

    return {"files": FileReader(root=str(settings.project_root()))}


KIND = SourceKind(
    name="files", config=FilesSource, build_assets=_build_assets, resources=_resources
)

__all__ = ["KIND"]
