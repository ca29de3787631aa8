"""The platform's defaults: the warehouse the environment describes."""

from __future__ import annotations

import pytest

from platform_assets.platform import build_definitions, default_warehouse, load_platform_catalog
from platform_assets.settings import SettingsError


def test_the_environment_tunes_the_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_MEMORY_LIMIT", "2GB")
    monkeypatch.setenv("TRIBUTARY_LOCK_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("TRIBUTARY_WRITEBACK_SECONDS", "0")

    warehouse = default_warehouse()

    assert (warehouse.memory_limit, warehouse.lock_timeout_seconds) == ("2GB", 30.0)
    assert warehouse.writeback_seconds == 0


def test_a_bad_setting_fails_the_definitions_load_and_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBUTARY_WRITEBACK_SECONDS", "often")

    with pytest.raises(SettingsError, match="TRIBUTARY_WRITEBACK_SECONDS='often': Input should be"):
        build_definitions(load_platform_catalog())
