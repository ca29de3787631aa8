"""`kind: python`: sources written as a `tributary.DataSource` plugin class.

One folder: `config` (the catalog model), `plugins` (finding the class), `reader` (its batches
as Arrow and the cursor they reach), `assets` (the Dagster wiring). `KIND` is registered the way
a third-party kind registers itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from platform_assets import settings
from platform_assets.config.base import SourceConfig
from platform_assets.python_kind.config import PythonSource
from platform_assets.source_kind import SourceKind

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource


def _build_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.python_kind.assets import build_python_assets

    return build_python_assets(source)


def _resources() -> Mapping[str, ConfigurableResource]:
    from platform_assets.python_kind.assets import PluginRunner

    return {"python": PluginRunner(cache_dir=str(settings.resolve("data/.cache")))}


KIND = SourceKind(
    name="python", config=PythonSource, build_assets=_build_assets, resources=_resources
)

__all__ = ["KIND"]
