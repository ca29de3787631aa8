"""The fields every catalog source and table share."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from platform_assets.config.checks import OnFail, TableChecks
from platform_assets.config.types import (
    CatalogModel,
    Cron,
    Duration,
    Identifier,
    KeyColumns,
    Owner,
    SchemaPolicy,
    Tags,
    TimeZone,
    WriteDisposition,
)
from resources.naming import DEFAULT_NAMING, ColumnNaming, check_spelling, snake_case
from resources.warehouse_schema import MODEL_SCHEMA, PLATFORM_SCHEMA
from resources.write_dispositions import BATCH_PREFIX, RESERVED_COLUMNS

__all__ = ["CatalogModel", "Freshness", "Identifier", "SourceConfig", "TableConfig"]

RESERVED_SCHEMAS: dict[str, str] = {
    PLATFORM_SCHEMA: "the platform's own records (loads, cursors, quarantine)",
    MODEL_SCHEMA: "the SQL models",
    "main": "DuckDB's default schema",
    "information_schema": "DuckDB's catalog views",
    "pg_catalog": "DuckDB's catalog views",
    "temp": "DuckDB's temporary tables",
    "system": "DuckDB's built-in catalog",
}
"""Schemas a source (whose name is its schema) must not take, and whose they are."""


def _not_reserved_schema(name: str) -> str:
    if name in RESERVED_SCHEMAS:
        raise ValueError(
            f"{name!r} is reserved: the warehouse schema of that name holds "
            f"{RESERVED_SCHEMAS[name]}; choose another source name"
        )
    return name


def _not_a_batch_table(name: str) -> str:
    if name.startswith(BATCH_PREFIX):
        raise ValueError(
            f"{name!r} is reserved: tables named {BATCH_PREFIX}* are a load's scratch tables, "
            "dropped whenever a load starts"
        )
    return name


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

    name: Annotated[Identifier, AfterValidator(_not_a_batch_table)]
    description: str = ""
    primary_key: KeyColumns = ()
    write: WriteDisposition = "replace"
    allow_empty: bool = False
    schema_policy: SchemaPolicy = "evolve"
    tags: Tags = Field(default_factory=dict)
    checks: TableChecks = Field(default_factory=lambda: TableChecks())
    on_fail: OnFail = "block"
    column_names: ColumnNaming = DEFAULT_NAMING
    """How source names become column names; the source's unless the table sets its own."""

    def declared_types(self) -> dict[str, str]:
        """Column types the table declares, by lowercase name (a files table's `columns:`)."""
        columns = getattr(self, "columns", None)
        return {k.lower(): v for k, v in columns.items()} if isinstance(columns, dict) else {}

    @model_validator(mode="after")
    def _rules_fit_declared_types(self) -> TableConfig:
        """Rules on a column whose type the table declares (and that give no `dtype` of their
        own) are bound by DuckDB on that type too: `isin: [a, b]` on a column declared INTEGER
        fails here, not on every run."""
        declared = self.declared_types()
        if not declared:
            return self
        from checks.engine import bind_column_rules, bind_condition
        from checks.expressions import parse_condition

        checks = self.checks
        for column, spec in checks.columns.items():
            if spec.dtype is None and (dtype := declared.get(column.lower())):
                try:
                    bind_column_rules(column, spec, dtype)
                except ValueError as error:
                    raise ValueError(
                        f"checks.columns.{column}: {error} (its type, declared in columns)"
                    ) from None
        for index, expression in enumerate(checks.expressions):
            condition = parse_condition(expression.expr)
            types: dict[str, str | None] = {}
            for column in sorted(condition.columns):
                own = checks.columns.get(column)
                types[column] = (own.dtype if own else None) or declared.get(column.lower())
            try:
                bind_condition(condition.sql, types)
            except ValueError as error:
                raise ValueError(
                    f"checks.expressions[{index}] ({expression.name}): {expression.expr!r}: {error}"
                ) from None
        return self

    @model_validator(mode="after")
    def _no_platform_columns(self) -> TableConfig:
        """The platform adds `_load_id`, `_loaded_at`, `_source`, `_row_hash` (and `_valid_from`,
        `_valid_to` under scd2) to every row: a table may not declare or key on them."""
        reserved = {name.lower(): name for name in RESERVED_COLUMNS}
        for field, names in (("primary_key", self.primary_key), ("columns", self.declared_types())):
            clash = next((name for name in names if name.lower() in reserved), None)
            if clash is not None:
                raise ValueError(
                    f"{field}: {clash!r} is a column the platform adds to every row; "
                    f"reserved: {', '.join(sorted(reserved.values()))}"
                )
        return self

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
        if checks.expressions:  # sqlglot loads for a table that has SQL rules
            from checks.expressions import parse_condition
        for expression in checks.expressions:
            for name in sorted(parse_condition(expression.expr).columns):
                # SQL ignores the case of a name it reads, as DuckDB does.
                yield f"checks.expressions[{expression.name}]", _sql_spelling(name)
        for reference in checks.references:
            yield "checks.references.column", reference.column
        if checks.max_age is not None:
            yield "checks.max_age.column", checks.max_age.column


class SourceConfig(CatalogModel):
    """One catalog file: a named source of one `kind`, with its tables. Its name is the
    warehouse schema its tables land in."""

    name: Annotated[Identifier, AfterValidator(_not_reserved_schema)]
    kind: str
    description: str = ""
    owner: Owner | None = None
    tags: Tags = Field(default_factory=dict)
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

    @model_validator(mode="after")
    def _tables_can_be_ordered(self) -> SourceConfig:
        """Every table this source's tables depend on is declared, and none depends on itself
        through others: then `load_order` exists."""
        names = {t.name for t in self.tables}
        for index, table in enumerate(self.tables):
            for number, reference in enumerate(table.checks.references):
                source, name, _ = reference.to.split(".", 2)
                if source == self.name and name not in names:
                    raise ValueError(
                        f"tables[{index}].checks.references[{number}].to: {reference.to!r} names "
                        f"table {name!r}, which source {self.name!r} does not declare"
                    )
        try:
            self.load_order()
        except ValueError as error:
            raise ValueError(f"tables: {error}") from None
        return self

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
        for table in tables:
            parent = next((name for name in seen if table.name.startswith(f"{name}__")), None)
            if parent is not None:
                raise ValueError(
                    f"table {table.name!r} would share its name with a child table of "
                    f"{parent!r} (<table>__<field>, where nested lists land)"
                )
        return tables

    def table(self, name: str) -> TableConfig:
        return next(t for t in self.tables if t.name == name)

    def upstream(self, table: TableConfig) -> set[str]:
        """The names of this source's tables that `table` loads after: those its `references`
        checks read (their rows must have landed first). A kind adds its own (a REST table's
        parent)."""
        found = set()
        for reference in table.checks.references:
            source, name, _ = reference.to.split(".", 2)
            if source == self.name and name != table.name:  # itself: nothing to wait for
                found.add(name)
        return found

    def load_order(self, names: Collection[str] | None = None) -> Sequence[TableConfig]:
        """The tables (or those named), each after every table it depends on that is among them,
        otherwise in catalog order. Raises ValueError when tables depend on each other in a
        cycle."""
        chosen = [t for t in self.tables if names is None or t.name in names]
        by_name = {t.name: t for t in chosen}
        ordered: list[TableConfig] = []

        def visit(table: TableConfig, path: tuple[str, ...]) -> None:
            if table in ordered:
                return
            if table.name in path:
                cycle = " -> ".join((*path[path.index(table.name) :], table.name))
                raise ValueError(f"tables depend on each other in a cycle: {cycle}")
            for name in sorted(self.upstream(table)):
                if name in by_name:
                    visit(by_name[name], (*path, table.name))
            ordered.append(table)

        for table in chosen:
            visit(table, ())
        return ordered


def _sql_spelling(name: str) -> str:
    """A name SQL reads, compared as DuckDB compares names: `Status` is `status`."""
    lowered = name.lower()
    return lowered if name.strip() and snake_case(name) == lowered else name
