"""Tributary's public SDK for plugin authors: the one import a Python source needs.

    import tributary
    from tributary import DataSource, State, TableRequest

    class Orders(DataSource):
        class Options(tributary.Options):
            shop: str

        options: Options

        def fetch(self, table: TableRequest, state: State):
            params = {"shop": self.options.shop, "since": state.cursor}
            yield self.get_json("/orders", params=params)

Tests run a catalog source against a temporary warehouse with `tributary.testing.run_source`.
Everything else under `platform_assets`, `resources`, `checks` and `sensors` is internal.
"""

from typing import TYPE_CHECKING, Any

from resources.rest.errors import RestError
from tributary.source import (
    DataSource,
    Options,
    PluginError,
    Secret,
    State,
    TableRequest,
)

if TYPE_CHECKING:
    from resources.rest.client import RestClient as HttpClient
    from tributary.source import Batch


def __getattr__(name: str) -> Any:
    """`Batch` and `HttpClient`, imported on first use: they bring polars, pyarrow and requests,
    which a command that only reads the catalog does not need."""
    if name == "Batch":
        from tributary import source

        return source.Batch
    if name == "HttpClient":
        from resources.rest.client import RestClient

        return RestClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Batch",
    "DataSource",
    "HttpClient",
    "Options",
    "PluginError",
    "RestError",
    "Secret",
    "State",
    "TableRequest",
]
