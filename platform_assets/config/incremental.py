"""`incremental:` of a table, whatever its kind: the cursor a kind loads from, and the write
dispositions that make sense with it."""

from __future__ import annotations

from pydantic import Field, model_validator

from platform_assets.config.types import CatalogModel, Duration
from resources.cursors import can_shift


class Cursor(CatalogModel):
    """A table loaded incrementally on `cursor_field`: each run asks only for what came after
    the cursor the last run reached (minus `lookback`), starting at `initial_value`."""

    cursor_field: str = Field(min_length=1)
    initial_value: str | None = None
    lookback: Duration | None = None

    @model_validator(mode="after")
    def _lookback_needs_time_or_number(self) -> Cursor:
        value = self.initial_value
        if self.lookback is not None and value is not None and not can_shift(value):
            raise ValueError(
                f"lookback: {value!r} (initial_value) is neither an ISO-8601 timestamp nor a "
                f"number, so a lookback cannot be subtracted from the cursor"
            )
        return self


def require_write_fits_incremental(write: str, incremental: Cursor | None) -> None:
    """Raise ValueError for a write disposition that contradicts incremental loading: a batch
    holds only the records changed since the cursor, so `replace` would swap the table for that
    delta and `scd2` would close every key it lacks."""
    if incremental is None or write not in ("replace", "scd2"):
        return
    consequence = (
        "the table would be replaced by them"
        if write == "replace"
        else "every key not in it would be closed as deleted"
    )
    raise ValueError(
        f"write: {write} cannot be used with incremental: each batch holds only the records "
        f"changed since the cursor, so {consequence}; use write: merge or append"
    )
