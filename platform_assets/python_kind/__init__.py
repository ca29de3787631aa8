"""`kind: python`: sources written as a `tributary.DataSource` plugin class.

One folder: `config` (the catalog model), `plugins` (finding the class), `reader` (its batches
as Arrow and the cursor they reach), `assets` (the Dagster wiring). `KIND` is registered the way
a third-party kind registers itself.
"""

from __future__ import annotations

from platform_assets import settings
from platform_assets.python_kind.assets import PluginRunner, build_python_assets
from platform_assets.python_kind.config import PythonSource
from platform_assets.source_kind import SourceKind

KIND = SourceKind(
    name="python",
    config=PythonSource,
    build_assets=build_python_assets,
    resources=lambda: {"python": PluginRunner(cache_dir=str(settings.resolve("data/.cache")))},
)

__all__ = ["KIND"]
