"""Finding a plugin class from the catalog's `plugin:` value."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points

from platform_assets import settings
from tributary.source import DataSource

ENTRY_POINT_GROUP = "tributary.sources"
"""The entry-point group installed plugins register their `DataSource` class under."""


class PluginImportError(Exception):
    """The plugin named in the catalog cannot be found, imported, or is not a `DataSource`."""


def load_plugin(reference: str) -> type[DataSource]:
    """The `DataSource` subclass `reference` names: `module.path:Class` (code in the project or
    any installed package), or the name of an entry point in group `tributary.sources`.
    Raises `PluginImportError` saying what is wrong, on one line."""
    try:
        found = _import(reference)
    except PluginImportError:
        raise
    except Exception as error:
        raise PluginImportError(
            f"plugin {reference!r} failed to import: {type(error).__name__}: {error}"
        ) from error
    if not (isinstance(found, type) and issubclass(found, DataSource)):
        raise PluginImportError(
            f"plugin {reference!r} is {found!r}, not a subclass of tributary.DataSource"
        )
    return found


def _import(reference: str) -> object:
    if ":" in reference:
        module_name, _, attribute = reference.partition(":")
        root = str(settings.project_root())
        if root not in sys.path:
            # Code in the project is importable however the platform was started.
            sys.path.append(root)
        module = importlib.import_module(module_name)
        try:
            return getattr(module, attribute)
        except AttributeError:
            raise PluginImportError(
                f"plugin {reference!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    matches = entry_points(group=ENTRY_POINT_GROUP, name=reference)
    if not matches:
        installed = sorted({e.name for e in entry_points(group=ENTRY_POINT_GROUP)})
        known = ", ".join(installed) if installed else "none"
        raise PluginImportError(
            f"plugin {reference!r}: no entry point of that name in group {ENTRY_POINT_GROUP} "
            f"(installed: {known}); install the plugin's package or write module:Class"
        )
    return next(iter(matches)).load()
