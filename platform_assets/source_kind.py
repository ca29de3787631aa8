"""What a source kind is: a config model, an asset builder and the reader resources it needs.

A package adds a kind by exposing a `SourceKind` under the `tributary.kinds` entry-point group;
built-in kinds are `SourceKind`s too (see `platform_assets.kinds`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import AssetsDefinition, ConfigurableResource

    from platform_assets.config.base import SourceConfig


@dataclass(frozen=True)
class SourceKind:
    """`build_assets` and `resources` are called only when definitions are built, so a kind's
    module should import its Dagster wiring inside them: listing or validating the catalog then
    never imports Dagster."""

    name: str
    config: type[SourceConfig]
    build_assets: Callable[[SourceConfig], AssetsDefinition]
    resources: Callable[[], Mapping[str, ConfigurableResource]]
