"""`kind: rest`: tables read from paginated JSON HTTP APIs.

One folder: `config` (the catalog models of a table and its endpoint; the `client:` settings it
shares with plugins are in `platform_assets.config.http`), `reader` (a table's pages as Arrow
batches, through the ground floor's client, paginators and records), `assets` (the Dagster
wiring: pages staged, child tables beside them, one commit). `KIND` is registered the way a
third-party kind registers itself.
"""

from __future__ import annotations

from platform_assets import settings
from platform_assets.rest_kind.assets import build_rest_assets
from platform_assets.rest_kind.config import RestSource
from platform_assets.rest_kind.reader import RestReader
from platform_assets.source_kind import SourceKind

KIND = SourceKind(
    name="rest",
    config=RestSource,
    build_assets=build_rest_assets,
    resources=lambda: {"rest": RestReader(cache_dir=str(settings.resolve("data/.cache")))},
)

__all__ = ["KIND"]
