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

from resources.rest.client import RestClient as HttpClient
from resources.rest.errors import RestError
from tributary.source import (
    Batch,
    DataSource,
    Options,
    PluginError,
    Secret,
    State,
    TableRequest,
)

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
