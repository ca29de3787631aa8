"""The IO manager of a platform whose assets hand Dagster no values.

Every Tributary asset writes its table into the warehouse itself and returns a `MaterializeResult`;
a downstream asset reads the warehouse, not a value passed along by Dagster. Without an
`io_manager` resource Dagster sets up its default one all the same, a filesystem pickler whose
set-up imports fsspec and universal-pathlib: about 0.1 s at the start of every run's process (of
every step's, under the multiprocess executor), for storage never used. This one costs nothing to
set up, and refuses a value, naming the asset that returned it.
"""

from __future__ import annotations

from dagster import InputContext, IOManager, IOManagerDefinition, OutputContext


class WarehouseOnlyIOManager(IOManager):
    """Stores nothing: assets land their data in the warehouse and return `MaterializeResult`."""

    def handle_output(self, context: OutputContext, obj: object) -> None:
        if obj is None:
            return
        name = context.asset_key.to_user_string() if context.has_asset_key else context.step_key
        raise TypeError(
            f"{name} returned a {type(obj).__name__}: a Tributary asset writes its data to the "
            "warehouse and returns a MaterializeResult"
        )

    def load_input(self, context: InputContext) -> object:
        upstream = context.asset_key.to_user_string() if context.has_asset_key else context.name
        raise TypeError(
            f"{context.op_def.name} asks Dagster for the value of {upstream}: a Tributary asset "
            "reads its inputs from the warehouse (declare them with `deps=`)"
        )


def warehouse_only_io_manager() -> IOManagerDefinition:
    """The resource to give as `io_manager`. A plain `IOManager`: it has no configuration, and
    Dagster's `ConfigurableIOManager` warns of deprecated pydantic use each time it builds one."""
    return IOManagerDefinition.hardcoded_io_manager(WarehouseOnlyIOManager())
