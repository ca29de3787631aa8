"""The registry of source kinds. A kind is a config model, an asset builder and the reader
resource it needs. Built-in kinds are listed here; a package adds its own by exposing a
`SourceKind` under the `tributary.kinds` entry-point group."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from platform_assets import settings
from platform_assets.config.base import SourceConfig
from platform_assets.config.files import FilesSource
from platform_assets.config.rest import RestSource
from platform_assets.python_kind import KIND as PYTHON
from platform_assets.source_kind import SourceKind

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource

__all__ = ["BUILT_IN", "SourceKind", "config_models", "registered_kinds"]


# The asset builders and readers import Dagster: they load only when definitions are built.
def _build_files_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.files import build_files_assets

    return build_files_assets(source)


def _files_resources() -> Mapping[str, ConfigurableResource]:
    from resources.files import FileReader

    return {"files": FileReader(root=str(settings.project_root()))}


def _build_rest_assets(source: SourceConfig) -> AssetsDefinition:
    from platform_assets.rest import build_rest_assets

    return build_rest_assets(source)


def _rest_resources() -> Mapping[str, ConfigurableResource]:
    from resources.rest import RestReader

    return {"rest": RestReader(cache_dir=str(settings.resolve("data/.cache")))}


FILES = SourceKind(
    name="files", config=FilesSource, build_assets=_build_files_assets, resources=_files_resources
)

REST = SourceKind(
    name="rest", config=RestSource, build_assets=_build_rest_assets, resources=_rest_resources
)

BUILT_IN: tuple[SourceKind, ...] = (FILES, REST, PYTHON)


@cache
def registered_kinds() -> Mapping[str, SourceKind]:
    kinds = {kind.name: kind for kind in BUILT_IN}
    for entry in entry_points(group="tributary.kinds"):
        kind = entry.load()
        if not isinstance(kind, SourceKind):
            raise TypeError(f"entry point {entry.name!r} of tributary.kinds is not a SourceKind")
        kinds[kind.name] = kind
    return kinds


def config_models(kinds: Mapping[str, SourceKind] | None = None) -> dict[str, type[SourceConfig]]:
    return {name: kind.config for name, kind in (kinds or registered_kinds()).items()}
