"""The registry of source kinds. A kind is one folder (`platform_assets/<name>_kind/`) whose
`__init__` exposes `KIND`, a `SourceKind`; built-in kinds are listed here, and a package adds
its own by exposing a `SourceKind` under the `tributary.kinds` entry-point group."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points

from platform_assets.config.base import SourceConfig
from platform_assets.files_kind import KIND as FILES
from platform_assets.python_kind import KIND as PYTHON
from platform_assets.rest_kind import KIND as REST
from platform_assets.source_kind import SourceKind
from platform_assets.sql_kind import KIND as SQL
from platform_assets.stream_kind import KIND as STREAM

__all__ = ["BUILT_IN", "SourceKind", "config_models", "registered_kinds"]


BUILT_IN: tuple[SourceKind, ...] = (FILES, REST, PYTHON, SQL, STREAM)


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
