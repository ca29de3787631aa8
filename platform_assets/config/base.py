"""The fields every catalog source and table share."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pydantic import Field, field_validator, model_validator

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

    @model_validator(mode="after")
    def _keyed_writes_need_a_key(self) -> TableConfig:
        if self.write in ("merge", "scd2") and not self.primary_key:
            raise ValueError(f"write: {self.write} needs a primary_key")
        return self


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

    @model_validator(mode="after")
    def _tables_can_be_ordered(self) -> SourceConfig:
        """Every table this source's tables depend on is declared, and none depends on itself
        through others: then `load_order` exists."""
        names = {t.name for t in self.tables}
        for index, table in enumerate(self.tables):
            for number, reference in enumerate(table.checks.references):
                source, name, _ = reference.to.split(".")
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
        return tables

    def table(self, name: str) -> TableConfig:
        return next(t for t in self.tables if t.name == name)

    def upstream(self, table: TableConfig) -> set[str]:
        """The names of this source's tables that `table` loads after: those its `references`
        checks read (their rows must have landed first). A kind adds its own (a REST table's
        parent)."""
        found = set()
        for reference in table.checks.references:
            source, name, _ = reference.to.split(".")
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
