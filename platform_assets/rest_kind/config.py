"""`kind: rest`: tables read from paginated JSON HTTP APIs (dlt's vocabulary, stricter checks)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from platform_assets.config.base import CatalogModel, SourceConfig, TableConfig
from platform_assets.config.env import check_references
from platform_assets.config.http import ClientConfig, Paginator
from platform_assets.config.incremental import Cursor, require_write_fits_incremental
from platform_assets.config.jsonpath import JsonPath
from resources.naming import check_spelling

_PARENT_REFERENCE = re.compile(r"\{(?P<table>[a-z_][a-z0-9_]*)\.(?P<field>[A-Za-z_][\w.]*)\}")

ScalarParam = str | int | float | bool


class Endpoint(CatalogModel):
    """`params` and `json` keep their `${VAR}` templates, like the client's `headers`."""

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"params", "json_body"})
    path: str = Field(min_length=1)
    method: Literal["GET", "POST"] = "GET"
    params: Annotated[dict[str, ScalarParam], AfterValidator(check_references)] = Field(
        default_factory=dict
    )
    json_body: Annotated[dict[str, Any] | None, AfterValidator(check_references)] = Field(
        default=None, alias="json"
    )
    retry_non_idempotent: bool = False
    records: JsonPath = "$"
    records_layout: Literal["rows", "columns"] = "rows"
    paginator: Paginator | None = None

    @property
    def parent(self) -> tuple[str, str] | None:
        """`(table, field)` of a `{table.field}` placeholder in the path, if any."""
        match = _PARENT_REFERENCE.search(self.path)
        return (match.group("table"), match.group("field")) if match else None

    @model_validator(mode="after")
    def _one_placeholder(self) -> Endpoint:
        if len(_PARENT_REFERENCE.findall(self.path)) > 1:
            raise ValueError("path: at most one {parent_table.field} placeholder is supported")
        return self


class Incremental(Cursor):
    """A REST table's cursor, sent as `param` (in the query or the JSON body); records whose
    cursor is past `end_value` are left out."""

    param: str = Field(min_length=1)
    param_location: Literal["query", "json"] = "query"
    end_value: str | None = None


class RestTable(TableConfig):
    endpoint: Endpoint
    incremental: Incremental | None = None
    max_nesting: int = Field(default=2, ge=0, le=8)

    def named_columns(self) -> Iterator[tuple[str, str]]:
        yield from super().named_columns()
        if self.incremental is not None:
            # `a.b` is the flattened column `a__b`: each part is a name of its own.
            for part in self.incremental.cursor_field.split("."):
                yield "incremental.cursor_field", part

    @model_validator(mode="after")
    def _write_fits_incremental(self) -> RestTable:
        require_write_fits_incremental(self.write, self.incremental)
        return self


class RestSource(SourceConfig):
    kind: Literal["rest"]
    client: ClientConfig
    tables: tuple[RestTable, ...]

    @model_validator(mode="after")
    def _parents_exist(self) -> RestSource:
        names = {t.name for t in self.tables}
        for table in self.tables:
            parent = table.endpoint.parent
            if parent is None:
                continue
            if parent[0] not in names or parent[0] == table.name:
                raise ValueError(
                    f"table {table.name!r}: endpoint.path refers to {parent[0]!r}, "
                    f"which is not another table of this source"
                )
            naming = self.table(parent[0]).column_names
            for part in parent[1].split("."):
                try:
                    check_spelling(part, naming)
                except ValueError as error:
                    raise ValueError(f"table {table.name!r}: endpoint.path: {error}") from None
        return self

    def upstream(self, table: TableConfig) -> set[str]:
        """A table loads after the tables it references and the table its path depends on."""
        found = super().upstream(table)
        parent = table.endpoint.parent if isinstance(table, RestTable) else None
        if parent is not None and parent[0] != table.name:  # `_parents_exist` names the rest
            found.add(parent[0])
        return found

    def load_order(self, names: Collection[str] | None = None) -> list[RestTable]:
        return [t for t in super().load_order(names) if isinstance(t, RestTable)]
