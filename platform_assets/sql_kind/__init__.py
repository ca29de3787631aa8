"""`kind: sql`: tables read from PostgreSQL, MySQL/MariaDB or SQLite by DuckDB's own scanners.

One folder: `config` (the catalog model), `types` (which type each column lands as), `reader`
(the scanners, the read plan, reflection), `assets` (the Dagster wiring). `KIND` is registered
the way a third-party kind registers itself.
"""

from __future__ import annotations

from platform_assets import settings
from platform_assets.source_kind import SourceKind
from platform_assets.sql_kind.assets import SqlReader, build_sql_assets
from platform_assets.sql_kind.config import SqlSource
from platform_assets.sql_kind.reader import extension_directory

KIND = SourceKind(
    name="sql",
    config=SqlSource,
    build_assets=build_sql_assets,
    resources=lambda: {
        "sql": SqlReader(
            extension_dir=str(extension_directory()), root=str(settings.project_root())
        )
    },
)

__all__ = ["KIND"]
