"""The registry of source kinds. A kind is one folder (`platform_assets/<name>_kind/`) whose
`__init__` exposes `KIND`, a `SourceKind`; built-in kinds are listed here, and a package adds
its own by exposing a `SourceKind` under the `tributary.kinds` entry-point group.

A built-in kind's folder is imported when a catalog names the kind, not before: each kind's
models bring their clients (HTTP, database drivers, brokers), which a catalog of files alone
never needs."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.metadata import entry_points

from platform_assets.config.base import SourceConfig
from platform_assets.source_kind import SourceKind

__all__ = ["BUILT_IN", "SourceKind", "config_models", "registered_kinds"]


BUILT_IN: dict[str, str] = {
    "files": "platform_assets.files_kind",
    "rest": "platform_assets.rest_kind",
    "python": "platform_assets.python_kind",
    "sql": "platform_assets.sql_kind",
    "stream": "platform_assets.stream_kind",
}
"""Each built-in kind's name and the module whose `KIND` it is."""


class _Kinds(Mapping[str, SourceKind]):
    """Kinds by name: a built-in kind's module is imported on first access; the plugins'
    kinds are loaded with the registry (their names are their `SourceKind`'s)."""

    def __init__(self, plugins: Mapping[str, SourceKind]) -> None:
        self._loaded: dict[str, SourceKind] = dict(plugins)
        self._names = [*(n for n in BUILT_IN if n not in plugins), *plugins]

    def __getitem__(self, name: str) -> SourceKind:
        if name not in self._loaded:
            if name not in BUILT_IN:
                raise KeyError(name)
            kind = importlib.import_module(BUILT_IN[name]).KIND
            if not isinstance(kind, SourceKind) or kind.name != name:
                raise TypeError(f"{BUILT_IN[name]}.KIND is not the SourceKind {name!r}")
            self._loaded[name] = kind
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


@cache
def registered_kinds() -> Mapping[str, SourceKind]:
    """Every kind, by name: the built-in ones, then the `tributary.kinds` entry points (a plugin
    may replace a built-in kind by taking its name). Raises TypeError for an entry point that is
    not a `SourceKind`."""
    plugins: dict[str, SourceKind] = {}
    for entry in entry_points(group="tributary.kinds"):
        kind = entry.load()
        if not isinstance(kind, SourceKind):
            raise TypeError(f"entry point {entry.name!r} of tributary.kinds is not a SourceKind")
        plugins[kind.name] = kind
    return _Kinds(plugins)


class _ConfigModels(Mapping[str, type[SourceConfig]]):
    """The config model of each kind, by name, read from `kinds` only when asked for."""

    def __init__(self, kinds: Mapping[str, SourceKind]) -> None:
        self._kinds = kinds

    def __getitem__(self, name: str) -> type[SourceConfig]:
        return self._kinds[name].config

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds


def config_models(
    kinds: Mapping[str, SourceKind] | None = None,
) -> Mapping[str, type[SourceConfig]]:
    """Each kind's catalog model, by name; a built-in kind's module loads on first use."""
    return _ConfigModels(kinds or registered_kinds())
