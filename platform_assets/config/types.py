"""The validated types catalog models are made of, and their common base class."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
)

from platform_assets.config.env import interpolate
from resources.cron import is_valid_cron
from resources.naming import normalize

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_OWNER = re.compile(r"^(team:[\w.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and _, "
            "starting with a letter or _ (at most 63 characters)"
        )
    return value


def _column_name(value: str) -> str:
    """Any non-empty name: whether it is spelled as the source's `column_names` convention wants
    is checked by the table, which knows the convention."""
    return normalize(value, "keep")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2)])
    raise ValueError(
        f"{value!r} is not a duration: write e.g. 30s, 15m, 2h, 1d or a number of seconds"
    )


@lru_cache(maxsize=4096)  # a catalog names the same few types in many tables
def _duckdb_type(value: str) -> str:
    """The type as DuckDB spells it (`int` is INTEGER, `text` VARCHAR), checked by DuckDB's own
    parser."""
    try:
        return str(duckdb.sqltype(value))
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"{value!r} is not a DuckDB type ({reason})") from None


def _cron(value: str) -> str:
    if not is_valid_cron(value):
        raise ValueError(f"{value!r} is not a valid cron string (e.g. '0 6 * * *')")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone (e.g. 'Europe/Paris')") from None
    return value


def _owner(value: str) -> str:
    if not _OWNER.match(value):
        raise ValueError(f"{value!r} is not an owner: use an e-mail address or team:<name>")
    return value


def _tags(value: Any) -> Any:
    """dbt's list form, `[finance, daily]`, as tags without a value; `key=value` items keep it."""
    if isinstance(value, list | tuple):
        tags: dict[str, str] = {}
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"{item!r} is not a tag: write a name, or key=value")
            key, _, text = item.partition("=")
            tags[key.strip()] = text.strip()
        return tags
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Identifier = Annotated[str, AfterValidator(_identifier)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
DuckDBType = Annotated[str, AfterValidator(_duckdb_type)]
"""A column type, in DuckDB's own spelling (`int` becomes INTEGER); safe to put in SQL."""
Cron = Annotated[str, AfterValidator(_cron)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Owner = Annotated[str, AfterValidator(_owner)]
ColumnName = Annotated[str, AfterValidator(_column_name)]
"""A column, as it lands in the warehouse (see `column_names`); quote it to put it in SQL."""
Tags = Annotated[dict[str, str], BeforeValidator(_tags)]
"""`{domain: orders}` or the list form `[finance, daily]` (tags without a value)."""
KeyColumns = Annotated[tuple[ColumnName, ...], BeforeValidator(_as_list)]

WriteDisposition = Literal["append", "replace", "merge", "scd2"]
SchemaPolicy = Literal["evolve", "freeze", "discard_columns"]


def _interpolate_tree(value: Any) -> Any:
    """Interpolate strings held directly or in flat lists/dicts; nested models do their own."""
    if isinstance(value, str):
        return interpolate(value)
    if isinstance(value, list):
        return [interpolate(item) if isinstance(item, str) else item for item in value]
    if isinstance(value, dict):
        return {k: interpolate(v) if isinstance(v, str) else v for k, v in value.items()}
    return value


class CatalogModel(BaseModel):
    """Base of every catalog model: unknown keys are errors, values are immutable, and `${VAR}`
    references are resolved at load time, except in fields listed in `run_time_fields` (secrets),
    which keep their template until a run resolves them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    run_time_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _resolve_variables(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.run_time_fields:
            return value
        return _interpolate_tree(value)
