"""`kind: rest`: tables read from paginated JSON HTTP APIs.

One folder: `config` (the catalog models of a table and its endpoint; the `client:` settings it
shares with plugins are in `platform_assets.config.http`), `reader` (a table's pages as Arrow
batches, through the ground floor's client, paginators and records), `assets` (the Dagster
wiring: pages staged, child tables beside them, one commit). `KIND` is registered the way a
third-party kind registers itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from platform_assets import settings
from platform_assets.config.base import SourceConfig
from platform_assets.rest_kind.config import RestSource
from platform_assets.source_kind import SourceKind

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource


# The Dagster wiring loads only when definitions are built (see `SourceKind`).
def _build_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.rest_kind.assets import build_rest_assets

    return build_rest_assets(source)


def _resources() -> Mapping[str, ConfigurableResource]:
    from platform_assets.rest_kind.reader import RestReader

    return {"rest": RestReader(cache_dir=str(settings.resolve("data/.cache")))}


KIND = SourceKind(name="rest", config=RestSource, build_assets=_build_assets, resources=_resources)

__all__ = ["KIND"]
