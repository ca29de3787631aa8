"""`kind: sql`: tables read from PostgreSQL, MySQL/MariaDB or SQLite.

The connection URL keeps its `${VAR}` template until a run resolves it: a password may only come
from the environment, and every value it takes is redacted from what the platform tells. A table
reads a `table:` or a read-only `query:` (one SELECT, parsed at catalog load); `tables: "*"`
reflects a whole schema into one table each, keyed on their primary keys.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import sqlglot
from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from platform_assets import settings
from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.config.env import check_references, interpolate
from platform_assets.config.incremental import Cursor, require_write_fits_incremental
from platform_assets.config.types import ColumnName, Duration, TimeZone
from resources.env import MissingVariableError
from resources.naming import snake_case

Dialect = Literal["postgres", "mysql", "sqlite"]

SCHEMES: dict[str, Dialect] = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
"""URL schemes the kind reads, and the database each names."""

_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-([^}]*))?\}")

OnNullCursor = Literal["include_once", "exclude", "fail"]
CdcDelete = Literal["soft", "hard"]

_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Into,
    exp.Lock,
    exp.Set,
    exp.Copy,
    exp.TruncateTable,
)
"""Statement parts that write, lock or change the session: a `query:` may hold none."""


def dialect_of(url: str) -> Dialect:
    """The database a connection URL names (`postgresql://...` is postgres); ValueError for
    any other scheme."""
    scheme = urlsplit(url).scheme.lower().split("+")[0]
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise ValueError(f"connection: {scheme or url!r} is not a database URL; use {known}")
    return SCHEMES[scheme]


def _literal_text(template: str) -> str:
    """What the catalog file itself spells: each `${VAR}` as empty, `${VAR:-default}` as its
    default."""
    return _REFERENCE.sub(lambda m: m.group(1) or "", template)


def check_read_only(query: str, dialect: Dialect | None) -> str:
    """`query` unchanged if it is one read-only SELECT in `dialect`; ValueError saying why not
    (several statements, a parse error, or a part that writes or locks)."""
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"query does not parse as {dialect or 'SQL'}: {first}") from None
    if len(statements) != 1:
        raise ValueError(f"query must be one statement, not {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ValueError(f"query must be a SELECT, not {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise ValueError(f"query must be read-only: it holds {node.key.upper()}")
        if isinstance(node, exp.Select) and node.args.get("locks"):
            raise ValueError("query must be read-only: it holds FOR UPDATE/FOR SHARE")
    return query


class SqlIncremental(Cursor):
    """Each run reads `WHERE cursor_field >= last - lookback` (pushed down to the database);
    rows at the boundary that landed before are merged by key, not repeated.

    `on_null_cursor`: rows whose cursor is NULL can never be compared with it, so they say what
    happens to them: `include_once` loads them with the first load (and a full refresh) only,
    `exclude` never loads them, `fail` fails the load naming the column and how many rows."""

    cursor_field: ColumnName
    on_null_cursor: OnNullCursor = "fail"


class SqlTable(TableConfig):
    """One table read from `table:` (`schema.name` or `name`) or a read-only `query:`."""

    table: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)
    incremental: SqlIncremental | None = None
    cdc: bool = False
    """Change data capture (PostgreSQL logical replication, MySQL/MariaDB binlog)."""
    cdc_delete: CdcDelete = "soft"
    """What a captured delete does: `soft` sets `_deleted_at`, `hard` deletes the row."""

    @model_validator(mode="after")
    def _one_origin(self) -> SqlTable:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table: or query:")
        if self.table is not None and not all(part.strip() for part in self.table.split(".")):
            raise ValueError(f"table: {self.table!r} is not `name` or `schema.name`")
        if self.table is not None and self.table.count(".") > 1:
            raise ValueError(f"table: {self.table!r} is not `name` or `schema.name`")
        return self

    @model_validator(mode="after")
    def _write_fits_incremental(self) -> SqlTable:
        require_write_fits_incremental(self.write, self.incremental)
        if self.incremental is not None and self.write != "merge":
            raise ValueError(
                f"write: {self.write} cannot be used with incremental: each run reads again "
                "the rows at the cursor (and within the lookback), which only write: merge "
                "(with a primary_key) lands once"
            )
        return self

    @model_validator(mode="after")
    def _cdc_reads_a_keyed_table(self) -> SqlTable:
        if not self.cdc:
            return self
        if self.query is not None:
            raise ValueError("cdc: true reads a table's changes; it needs table:, not query:")
        if self.incremental is not None:
            raise ValueError("cdc: true and incremental: exclude each other")
        if self.write != "merge":
            raise ValueError("cdc: true applies changes by key: it needs write: merge")
        return self

    @model_validator(mode="after")
    def _incremental_runs_may_bring_nothing(self) -> SqlTable:
        # A run with no new rows is normal for an incremental table that appends or merges.
        if self.incremental is not None and "allow_empty" not in self.model_fields_set:
            object.__setattr__(self, "allow_empty", True)
        return self

    def named_columns(self) -> Iterator[tuple[str, str]]:
        yield from super().named_columns()
        if self.incremental is not None:
            yield "incremental.cursor_field", self.incremental.cursor_field

    @property
    def schema_and_name(self) -> tuple[str | None, str]:
        """`table:` split into its schema (None when not given) and name."""
        assert self.table is not None
        schema, _, name = self.table.rpartition(".")
        return (schema or None), name


class SqlSource(SourceConfig):
    """A database: `connection` is its URL (`postgresql://`, `mysql://`, `sqlite:///path`)."""

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"connection"})
    kind: Literal["sql"]
    connection: str = Field(min_length=1)
    tables: tuple[SqlTable, ...]
    reflected: bool = False
    """Whether `tables` came from `tables: "*"` (set at load)."""
    db_schema: str | None = Field(default=None, alias="schema", min_length=1)
    """The schema `tables: "*"` reflects (default: `public`, the URL's database, `main`)."""
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Fields every reflected table takes (`write`, `cdc`, `schema_policy`...)."""
    source_timezone: TimeZone | None = None
    """The zone a MySQL/MariaDB DATETIME or TIMESTAMP is written in: set, they land as
    TIMESTAMPTZ; unset, as zone-less TIMESTAMP (which is what the database stores)."""
    statement_timeout: Duration | None = None
    """The longest one read may run; the load fails after it (PostgreSQL, MySQL/MariaDB)."""

    model_config = {**SourceConfig.model_config, "populate_by_name": True}

    @model_validator(mode="before")
    @classmethod
    def _reflect(cls, data: Any) -> Any:
        """`tables: "*"`: one table per table of the schema (include/exclude globs applied),
        keyed on its primary key, read at catalog load."""
        if not isinstance(data, dict) or data.get("tables") != "*":
            if isinstance(data, dict):
                for field in ("include", "exclude", "defaults"):
                    if field in data:
                        raise ValueError(f'{field}: applies to tables: "*" only')
            return data
        from platform_assets.sql_kind.reader import Database, SqlSourceError, reflect
        from resources.duckdb_extensions import extension_directory

        template = data.get("connection")
        if not isinstance(template, str):
            return data  # the field's own error says what is missing
        url = interpolate(template)
        include = _globs(data.get("include", ["*"]), "include")
        exclude = _globs(data.get("exclude", []), "exclude")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise ValueError("defaults: must be a mapping of table fields")
        database = Database(url=url, dialect=dialect_of(url), root=settings.project_root())
        try:
            found = reflect(database, data.get("schema"), extension_directory())
        except SqlSourceError as error:
            raise ValueError(
                f'tables: "*" could not read the database\'s tables: {error}'
            ) from None
        tables = []
        for table in found:
            if not any(fnmatch.fnmatchcase(table.name, g) for g in include):
                continue
            if any(fnmatch.fnmatchcase(table.name, g) for g in exclude):
                continue
            keyed = bool(table.primary_key)
            entry: dict[str, Any] = {
                "name": snake_case(table.name),
                "table": f"{table.schema}.{table.name}" if table.schema else table.name,
                "write": "merge" if keyed else "replace",
                "primary_key": [snake_case(c) for c in table.primary_key],
            }
            tables.append({**entry, **defaults})
        if not tables:
            where = f"schema {table_schema!r}" if (table_schema := data.get("schema")) else "it"
            raise ValueError(f'tables: "*" found no table in {where} matching include/exclude')
        return {**data, "tables": tables, "reflected": True}

    @field_validator("connection")
    @classmethod
    def _url_without_literal_password(cls, template: str) -> str:
        check_references(template)
        if _has_literal_password(_literal_text(template)):
            raise ValueError(
                "the password must come from the environment: write "
                "${DATABASE_URL} (or a ${VAR} in place of the password), not the password"
            )
        with contextlib.suppress(MissingVariableError):  # resolved when a run needs it
            dialect_of(interpolate(template))
        return template

    @model_validator(mode="after")
    def _queries_read_only(self) -> SqlSource:
        dialect = self.dialect_or_none
        for index, table in enumerate(self.tables):
            if table.query is not None:
                try:
                    check_read_only(table.query, dialect)
                except ValueError as error:
                    raise ValueError(f"tables[{index}] ({table.name}): {error}") from None
            if table.cdc and dialect == "sqlite":
                raise ValueError(
                    f"tables[{index}] ({table.name}): cdc: true needs PostgreSQL or "
                    "MySQL/MariaDB; SQLite has no change log to read"
                )
        return self

    @property
    def dialect_or_none(self) -> Dialect | None:
        """The database the connection names, or None while its variable is unset."""
        try:
            return dialect_of(interpolate(self.connection))
        except (MissingVariableError, ValueError):
            return None


def _has_literal_password(spelled: str) -> bool:
    """Whether a URL's own text (references removed) holds `user:password@` or `password=`."""
    if "://" in spelled:
        authority = spelled.split("://", 1)[1].split("/", 1)[0]
        if "@" in authority and authority.rsplit("@", 1)[0].partition(":")[2]:
            return True
    query = spelled.split("?", 1)[1] if "?" in spelled else ""
    pairs = [p.partition("=") for p in query.split("&")]
    return any(k.lower() in ("password", "pass") and v for k, _, v in pairs)


def _globs(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{field}: must be a glob or a list of globs")


__all__ = ["SqlIncremental", "SqlSource", "SqlTable", "check_read_only", "dialect_of"]
