"""The asset wiring of `kind: python`: one asset per table, loaded by the source's plugin.

Per table: read the stored cursor, ask the plugin for batches from there, stage each batch as it
arrives, then judge and land the table with its new cursor in one commit. A plugin that raises
fails its table only; nothing of it lands and its cursor stays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import AssetsDefinition, ConfigurableResource
from pydantic import Field

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.config.http import open_client
from platform_assets.factory import build_source_assets
from platform_assets.loading import EXPECTED_ERRORS, Extract, write_spec
from platform_assets.python_kind.config import PythonSource, PythonTable
from platform_assets.python_kind.reader import PluginRead
from resources.cursors import start_from
from resources.redaction import Redactor
from resources.rest.errors import RestError
from resources.warehouse import Load
from resources.write_dispositions import WriteSpec
from tributary.source import DataSource, PluginError, State, TableRequest

if TYPE_CHECKING:
    from resources.rest.client import RestClient

PLUGIN_ERRORS: tuple[type[Exception], ...] = (*EXPECTED_ERRORS, PluginError, RestError)


class PluginRunner(ConfigurableResource):
    """Makes a source's plugin object, with the platform's HTTP client when it declares one."""

    cache_dir: str = Field(description="Where a `client.cache_ttl` keeps cached GET responses.")

    @contextlib.contextmanager
    def open(self, source: PythonSource) -> Iterator[tuple[DataSource, RestClient | None]]:
        """The plugin, ready to fetch, and its HTTP client (closed afterwards), if any."""
        redact = Redactor()
        client = None
        if source.client is not None:
            cache = Path(self.cache_dir) / f"{source.name}.sqlite"
            client = open_client(source.client, redact, cache)
        try:
            plugin = source.plugin_class(
                options=source.options, source=source.name, http=client, redact=redact
            )
            yield plugin, client
        finally:
            if client is not None:
                client.close()


def table_write_spec(source: SourceConfig, table: TableConfig) -> WriteSpec:
    """The write, with merges keeping the latest row of a key by the cursor field."""
    assert isinstance(table, PythonTable)
    incremental = table.incremental
    return write_spec(source, table, order_by=incremental.cursor_field if incremental else None)


def _extract(runner: PluginRunner, source: SourceConfig, table: TableConfig) -> Extract:
    assert isinstance(source, PythonSource) and isinstance(table, PythonTable)
    incremental = table.incremental

    def stage(load: Load) -> str | None:
        last = load.warehouse.stored_cursor(source.name, table.name)
        state = State(last_cursor=last, cursor_field=None)
        if incremental is not None:
            state.cursor = start_from(last, incremental.initial_value, incremental.lookback)
            state.cursor_field = incremental.cursor_field
        request = TableRequest(table.name, table.options, state.cursor_field)
        with runner.open(source) as (plugin, client):
            read = PluginRead(plugin, source.plugin, request, state)
            try:
                load.stage(read.streams())
            except Exception:
                if read.error is not None:
                    raise read.error from None
                raise
            finally:
                if client is not None:
                    load.requests = client.requests
                    load.retries = client.retries
                    load.bytes_read = client.bytes_read
        return read.cursor

    return stage


def build_python_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, PythonSource)
    return build_source_assets(
        source,
        reader_key="python",
        extract_for=_extract,
        kinds_of=lambda _table: {"python"},
        write_spec_for=table_write_spec,
        expected_errors=PLUGIN_ERRORS,
    )
