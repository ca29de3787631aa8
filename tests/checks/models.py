"""A pandera DataFrameModel that a catalog table names with `schema: tests.checks.models:Orders`."""

import pandera.polars as pa
import polars as pl


class Orders(pa.DataFrameModel):
    quantity: int = pa.Field(ge=1)
    status: str = pa.Field(isin=["paid", "shipped"])

    @pa.dataframe_check
    @classmethod
    def at_least_three_orders(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.len() >= 3)
