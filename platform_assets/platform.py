"""Build the one `Definitions` of the platform from a catalog."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetSelection, Definitions, define_asset_job

from platform_assets import settings
from platform_assets.catalog import Catalog, load_catalog
from platform_assets.kinds import SourceKind, config_models, registered_kinds
from resources.warehouse import Warehouse

INGEST_JOB = "ingest"
"""The job `tributary run` launches, with the selected tables as its asset selection."""


def default_warehouse() -> Warehouse:
    return Warehouse(path=str(settings.warehouse_path()), staging_dir=str(settings.staging_dir()))


def default_resources(kinds: Mapping[str, SourceKind]) -> dict[str, Any]:
    resources: dict[str, Any] = {"warehouse": default_warehouse()}
    for kind in kinds.values():
        resources.update(kind.resources())
    return resources


def load_platform_catalog(directory: Path | None = None) -> Catalog:
    return load_catalog(directory or settings.catalog_dir(), config_models())


def build_definitions(catalog: Catalog, resources: Mapping[str, Any] | None = None) -> Definitions:
    """Assets for every catalog source; `resources` override the defaults (tests pass a
    `tmp_path` warehouse this way)."""
    kinds = registered_kinds()
    assets = [kinds[source.kind].build_assets(source) for source in catalog.sources]
    return Definitions(
        assets=assets,
        jobs=[define_asset_job(INGEST_JOB, selection=AssetSelection.all())],
        resources={**default_resources(kinds), **(resources or {})},
    )
