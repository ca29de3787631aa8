"""`checks:` and `on_fail:` of a table: data-quality rules that gate what lands."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from platform_assets.config.types import (
    CatalogModel,
    ColumnName,
    DuckDBType,
    Duration,
    Identifier,
)

Severity = Literal["warn", "error"]
OnFail = Literal["block", "quarantine_rows", "warn"]

_REFERENCE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\.\S.*$")
_MODEL_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _reference(value: str) -> str:
    if not _REFERENCE.match(value):
        raise ValueError(f"{value!r} is not <source>.<table>.<column>")
    return value


def _model_path(value: str) -> str:
    if not _MODEL_PATH.match(value):
        raise ValueError(f"{value!r} is not <package.module>:<DataFrameModel>")
    return value


def _ordered(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"min ({low:g}) is greater than max ({high:g}): no value could pass")


class Bounds(CatalogModel):
    """An inclusive range; at least one end is given."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _a_range(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        _ordered(self.min, self.max)
        return self


class ColumnChecks(CatalogModel):
    """Rules on one column's values; nulls are judged by `nullable` alone."""

    dtype: DuckDBType | None = None
    nullable: bool = True
    unique: bool = False
    min: int | float | None = None
    max: int | float | None = None
    isin: tuple[str | int | float | bool, ...] | None = Field(default=None, min_length=1)
    regex: str | None = None
    str_length: Bounds | None = None
    severity: Severity = "error"

    @model_validator(mode="after")
    def _satisfiable(self) -> ColumnChecks:
        """Refuse rules that no value could pass, or that DuckDB, which runs them, could not:
        each is bound by DuckDB now, on a column of `dtype` (VARCHAR for regex and str_length
        when no dtype is given), so a regular expression is compiled by RE2, not Python."""
        _ordered(self.min, self.max)
        if self.isin is not None:
            _one_kind(self.isin)
        if self.regex is not None or self.dtype is not None:
            from checks.engine import bind_column_rules  # checks.engine compiles these models

            bind_column_rules("value", self, self.dtype)
        return self


def _one_kind(values: tuple[str | int | float | bool, ...]) -> None:
    """DuckDB compares a column with a list of one type; text mixed with numbers or booleans
    would make every value text, which matches no number column."""
    texts = [v for v in values if isinstance(v, str)]
    if texts and len(texts) != len(values):
        others = [v for v in values if not isinstance(v, str)]
        raise ValueError(
            f"isin mixes text ({texts[0]!r}) with {others[0]!r}: write every value as text "
            "(quoted) or every one as a number or boolean"
        )


def _row_condition(sql: str) -> str:
    from checks.expressions import parse_condition  # sqlglot loads for a catalog with SQL rules

    parse_condition(sql)
    return sql


class ExpressionCheck(CatalogModel):
    """A row-level rule written as a SQL expression, e.g. `quantity > 0 or status = 'cancelled'`."""

    name: Identifier
    expr: Annotated[str, AfterValidator(_row_condition)] = Field(min_length=1)
    severity: Severity = "error"


class RowCount(Bounds):
    severity: Severity = "error"


class VolumeAnomaly(CatalogModel):
    """Row count outside [min * (1 - tolerance), max * (1 + tolerance)] of the last loads."""

    lookback: int = Field(default=10, ge=2)
    tolerance: float = Field(default=0.5, ge=0)
    severity: Severity = "warn"


class SchemaChange(CatalogModel):
    severity: Severity = "warn"


class Reference(CatalogModel):
    """Every non-null `column` value must exist in `to` (`<source>.<table>.<column>`)."""

    column: ColumnName
    to: Annotated[str, AfterValidator(_reference)]
    severity: Severity = "error"


class MaxAge(CatalogModel):
    """The newest `column` value must be at most `max_age` old."""

    column: ColumnName
    max_age: Duration
    severity: Severity = "warn"


class TableChecks(CatalogModel):
    columns: dict[ColumnName, ColumnChecks] = Field(default_factory=dict)
    expressions: tuple[ExpressionCheck, ...] = ()
    row_count: RowCount | None = None
    volume_anomaly: VolumeAnomaly | None = None
    schema_change: SchemaChange | None = None
    references: tuple[Reference, ...] = ()
    max_age: MaxAge | None = None
    schema_model: Annotated[str, AfterValidator(_model_path)] | None = Field(
        default=None, alias="schema"
    )

    @model_validator(mode="after")
    def _conditions_bind(self) -> TableChecks:
        """Each expression is bound by DuckDB over the columns it reads (typed by their `dtype`
        where one is declared): an unknown function or a regular expression RE2 refuses fails
        here, not on every run."""
        if not self.expressions:
            return self
        from checks.engine import bind_condition
        from checks.expressions import parse_condition

        for index, expression in enumerate(self.expressions):
            condition = parse_condition(expression.expr)
            types = {
                column: (spec.dtype if (spec := self.columns.get(column)) else None)
                for column in sorted(condition.columns)
            }
            try:
                bind_condition(condition.sql, types)
            except ValueError as error:
                raise ValueError(
                    f"expressions[{index}] ({expression.name}): {expression.expr!r}: {error}"
                ) from None
        return self

    @model_validator(mode="after")
    def _importable_model(self) -> TableChecks:
        if self.schema_model is not None:
            from checks.rules import load_model  # pandera is imported only when a model is named

            load_model(self.schema_model)
        return self
