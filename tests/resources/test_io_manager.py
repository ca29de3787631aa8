"""Dagster's IO manager on this platform: its assets hand Dagster no values, so it stores none."""

from __future__ import annotations

from dagster import DagsterInstance, MaterializeResult, asset, materialize

from resources.io_manager import warehouse_only_io_manager


def test_assets_that_write_to_the_warehouse_and_depend_on_each_other_run() -> None:
    @asset
    def raw() -> MaterializeResult:
        return MaterializeResult(metadata={"rows": 3})

    @asset(deps=[raw])
    def model() -> MaterializeResult:
        return MaterializeResult(metadata={"rows": 1})

    result = materialize(
        [raw, model],
        resources={"io_manager": warehouse_only_io_manager()},
        instance=DagsterInstance.ephemeral(),
    )

    assert result.success


def test_an_asset_that_returns_a_value_is_refused_by_name() -> None:
    @asset
    def prices() -> list[int]:
        return [3, 4]

    result = materialize(
        [prices],
        resources={"io_manager": warehouse_only_io_manager()},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None and error.cause is not None
    assert error.cause.message.startswith("TypeError: prices returned a list")


def test_an_asset_that_asks_for_an_upstream_value_is_told_to_read_the_warehouse() -> None:
    @asset
    def raw() -> None:
        return None

    @asset
    def model(raw: object) -> MaterializeResult:
        return MaterializeResult()

    result = materialize(
        [raw, model],
        resources={"io_manager": warehouse_only_io_manager()},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None and error.cause is not None
    assert error.cause.message.startswith("TypeError: model asks Dagster for the value of raw")
