"""Dagster's IO manager on this platform: its assets hand Dagster no values, so it stores none."""

from __future__ import annotations

from dagster import (
    AssetsDefinition,
    DagsterInstance,
    ExecuteInProcessResult,
    MaterializeResult,
    asset,
    materialize,
)

from resources.io_manager import warehouse_only_io_manager


def run(*assets: AssetsDefinition) -> ExecuteInProcessResult:
    return materialize(
        assets,
        resources={"io_manager": warehouse_only_io_manager()},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def why_it_failed(result: ExecuteInProcessResult) -> str:
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None and error.cause is not None
    return error.cause.message


def test_assets_that_write_to_the_warehouse_and_depend_on_each_other_run() -> None:
    @asset
    def raw() -> MaterializeResult:
        return MaterializeResult(metadata={"rows": 3})

    @asset(deps=[raw])
    def model() -> MaterializeResult:
        return MaterializeResult(metadata={"rows": 1})

    assert run(raw, model).success


def test_an_asset_that_returns_a_value_is_refused_by_name() -> None:
    @asset
    def prices() -> list[int]:
        return [3, 4]

    assert why_it_failed(run(prices)).startswith("TypeError: prices returned a list")


def test_an_asset_that_asks_for_an_upstream_value_is_told_to_read_the_warehouse() -> None:
    @asset
    def raw() -> None:
        return None

    @asset
    def model(raw: object) -> MaterializeResult:
        return MaterializeResult()

    assert why_it_failed(run(raw, model)).startswith(
        "TypeError: model asks Dagster for the value of raw"
    )
