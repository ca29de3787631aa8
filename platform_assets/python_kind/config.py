"""`kind: python`: tables fetched by a plugin class (`tributary.DataSource`).

The catalog names the plugin; loading the catalog imports it and validates `options:` (and each
table's `options:`) against the plugin's own models, so a missing plugin or a wrong option is a
catalog error naming the file, the field and the plugin.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from platform_assets.config.base import Identifier, SourceConfig, TableConfig
from platform_assets.config.http import ClientConfig
from platform_assets.config.incremental import Cursor, require_write_fits_incremental
from platform_assets.python_kind.plugins import PluginImportError, load_plugin
from tributary.source import DataSource, SourceOptions


class PluginIncremental(Cursor):
    """The table is incremental on `cursor_field`, a column of the plugin's batches."""

    cursor_field: Identifier


class PythonTable(TableConfig):
    options: SourceOptions = Field(default_factory=SourceOptions)
    incremental: PluginIncremental | None = None

    @model_validator(mode="after")
    def _write_fits_incremental(self) -> PythonTable:
        require_write_fits_incremental(self.write, self.incremental)
        return self

    @model_validator(mode="after")
    def _incremental_runs_may_bring_nothing(self) -> PythonTable:
        # A run with no new records is normal for an incremental table that appends or merges.
        keyed = self.write in ("append", "merge")
        if self.incremental is not None and keyed and "allow_empty" not in self.model_fields_set:
            object.__setattr__(self, "allow_empty", True)
        return self


class PythonSource(SourceConfig):
    """A source whose rows come from `plugin`; `client:` gives it the platform's HTTP client."""

    run_time_fields: ClassVar[frozenset[str]] = frozenset({"options"})
    kind: Literal["python"]
    plugin: str = Field(min_length=1)
    options: SourceOptions = Field(default_factory=SourceOptions)
    client: ClientConfig | None = None
    tables: tuple[PythonTable, ...]

    @property
    def plugin_class(self) -> type[DataSource]:
        return load_plugin(self.plugin)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> PythonSource:
        """Validate against the models of the plugin `obj["plugin"]` names (imported now)."""
        reference = obj.get("plugin") if isinstance(obj, dict) else None
        if cls is not PythonSource or not isinstance(reference, str) or not reference:
            return super().model_validate(obj, *args, **kwargs)
        try:
            plugin = load_plugin(reference)
        except PluginImportError as error:
            raise _validation_error(cls.__name__, ("plugin",), reference, str(error)) from None
        try:
            return _model_for(plugin).model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise _naming_plugin(error, reference) from None


def _required(model: type[BaseModel]) -> bool:
    return any(field.is_required() for field in model.model_fields.values())


def _field(model: type[SourceOptions]) -> Any:
    return (model, ... if _required(model) else Field(default_factory=model))


_MODELS: dict[type[DataSource], type[PythonSource]] = {}


def _model_for(plugin: type[DataSource]) -> type[PythonSource]:
    """`PythonSource` with `options` typed as the plugin's `Options`, tables' as `TableOptions`."""
    if plugin in _MODELS:
        return _MODELS[plugin]
    table: type[PythonTable] = create_model(
        f"{plugin.__name__}Table", __base__=PythonTable, options=_field(plugin.TableOptions)
    )
    model: type[PythonSource] = create_model(
        f"{plugin.__name__}Source",
        __base__=PythonSource,
        options=_field(plugin.Options),
        tables=(tuple[table, ...], ...),
    )
    _MODELS[plugin] = model
    return model


def _validation_error(
    title: str, loc: tuple[str | int, ...], value: Any, message: str
) -> ValidationError:
    detail: InitErrorDetails = {
        "type": PydanticCustomError("plugin", "{message}", {"message": message}),
        "loc": loc,
        "input": value,
    }
    return ValidationError.from_exception_data(title, [detail])


def _naming_plugin(error: ValidationError, reference: str) -> ValidationError:
    """The same errors; those inside `options` also name the plugin whose model refused them."""
    details: list[InitErrorDetails] = []
    for e in error.errors():
        loc, ctx = tuple(e["loc"]), e.get("ctx") or {}
        if "options" not in loc:
            passed: InitErrorDetails = {"type": e["type"], "loc": loc, "input": e["input"]}
            if ctx:
                passed["ctx"] = ctx
            details.append(passed)
            continue
        if e["type"] == "missing":
            message = "is required"
        elif e["type"] == "extra_forbidden":
            message = "unknown key"
        elif e["type"] in ("value_error", "assertion_error") and "error" in ctx:
            message = str(ctx["error"])
        else:
            message = e["msg"][0].lower() + e["msg"][1:]
        details.append(
            {
                "type": PydanticCustomError(
                    "plugin_option", "{message}", {"message": f"{message} (plugin {reference!r})"}
                ),
                "loc": loc,
                "input": e["input"],
            }
        )
    return ValidationError.from_exception_data(error.title, details)
