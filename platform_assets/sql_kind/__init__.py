"""`kind: sql`: tables read from PostgreSQL, MySQL/MariaDB or SQLite by DuckDB's own scanners.

One folder: `config` (the catalog model), `types` (which type each column lands as), `reader`
(the scanners, the read plan, reflection), `assets` (the Dagster wiring). `KIND` is registered
the way a third-party kind registers itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from platform_assets import settings
from platform_assets.config.base import SourceConfig
from platform_assets.source_kind import SourceKind
from platform_assets.sql_kind.config import SqlSource

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource


# The Dagster wiring loads only when definitions are built (see `SourceKind`).
def _build_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.sql_kind.assets import build_sql_assets

    return build_sql_assets(source)


def _resources() -> Mapping[str, ConfigurableResource]:
    from platform_assets.sql_kind.assets import SqlReader
    from resources.duckdb_extensions import extension_directory

    root = str(settings.project_root())
    return {"sql": SqlReader(extension_dir=str(extension_directory()), root=root)}


KIND = SourceKind(name="sql", config=SqlSource, build_assets=_build_assets, resources=_resources)

__all__ = ["KIND"]
