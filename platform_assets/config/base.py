"""The fields every catalog source and table share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, field_validator, model_validator

from checks.expressions import parse_condition
from platform_assets.config.checks import OnFail, TableChecks
from platform_assets.config.types import (
    CatalogModel,
    Cron,
    Duration,
    Identifier,
    KeyColumns,
    Owner,
    SchemaPolicy,
    TimeZone,
    WriteDisposition,
)
from resources.naming import DEFAULT_NAMING, ColumnNaming, check_spelling, snake_case

__all__ = ["CatalogModel", "Freshness", "Identifier", "SourceConfig", "TableConfig"]


class Freshness(CatalogModel):
    """How old a table may get: a warning after `warn_after`, a failure after `fail_after`."""

    warn_after: Duration | None = None
    fail_after: Duration

    @model_validator(mode="after")
    def _warn_before_fail(self) -> Freshness:
        if self.warn_after is not None and self.warn_after >= self.fail_after:
            raise ValueError("warn_after must be shorter than fail_after")
        return self


class TableConfig(CatalogModel):
    """What every table of every kind declares; a kind adds where its rows come from."""

    name: Identifier
    description: str = ""
    primary_key: KeyColumns = ()
    write: WriteDisposition = "replace"
    allow_empty: bool = False
    schema_policy: SchemaPolicy = "evolve"
    tags: dict[str, str] = Field(default_factory=dict)
    checks: TableChecks = Field(default_factory=lambda: TableChecks())
    on_fail: OnFail = "block"
    column_names: ColumnNaming = DEFAULT_NAMING
    """How source names become column names; the source's unless the table sets its own."""

    @model_validator(mode="after")
    def _keyed_writes_need_a_key(self) -> TableConfig:
        if self.write in ("merge", "scd2") and not self.primary_key:
            raise ValueError(f"write: {self.write} needs a primary_key")
        return self

    @model_validator(mode="after")
    def _columns_named_as_they_land(self) -> TableConfig:
        for field, name in self.named_columns():
            try:
                check_spelling(name, self.column_names)
            except ValueError as error:
                raise ValueError(f"{field}: {error}") from None
        return self

    def named_columns(self) -> Iterator[tuple[str, str]]:
        """Every `(field, column)` the table's fields name, each spelled as it lands under
        `column_names`; a kind adds its own fields."""
        for name in self.primary_key:
            yield "primary_key", name
        checks = self.checks
        for name in checks.columns:
            yield "checks.columns", name
        for expression in checks.expressions:
            for name in sorted(parse_condition(expression.expr).columns):
                # SQL ignores the case of a name it reads, as DuckDB does.
                yield f"checks.expressions[{expression.name}]", _sql_spelling(name)
        for reference in checks.references:
            yield "checks.references.column", reference.column
        if checks.max_age is not None:
            yield "checks.max_age.column", checks.max_age.column


class SourceConfig(CatalogModel):
    """One catalog file: a named source of one `kind`, with its tables."""

    name: Identifier
    kind: str
    description: str = ""
    owner: Owner | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    schedule: Cron | None = None
    timezone: TimeZone = "UTC"
    freshness: Freshness | None = None
    tables: tuple[TableConfig, ...]
    column_names: ColumnNaming = DEFAULT_NAMING
    """`snake_case` (`Body Mass (g)` lands as `body_mass_g`) or `keep` (names as spelled)."""

    @model_validator(mode="before")
    @classmethod
    def _tables_inherit_column_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "column_names" in data:
            tables = data.get("tables")
            if isinstance(tables, list | tuple):
                data = {
                    **data,
                    "tables": [
                        {"column_names": data["column_names"], **t} if isinstance(t, dict) else t
                        for t in tables
                    ],
                }
        return data

    @field_validator("tables")
    @classmethod
    def _unique_table_names(cls, tables: tuple[TableConfig, ...]) -> tuple[TableConfig, ...]:
        if not tables:
            raise ValueError("a source needs at least one table")
        seen: set[str] = set()
        for table in tables:
            if table.name in seen:
                raise ValueError(f"table {table.name!r} is declared twice")
            seen.add(table.name)
        return tables

    def table(self, name: str) -> TableConfig:
        return next(t for t in self.tables if t.name == name)


def _sql_spelling(name: str) -> str:
    """A name SQL reads, compared as DuckDB compares names: `Status` is `status`."""
    lowered = name.lower()
    return lowered if name.strip() and snake_case(name) == lowered else name
