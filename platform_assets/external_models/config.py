"""The declaration of an external model: the `MODEL = {...}` literal at the top of
`models/<name>.py`, read without running the file (the model's own process does that).

    MODEL = {
        "description": "Orders per category and day, for the next 14 days.",
        "inputs": ["webshop.orders", "inventory.products"],
        "outputs": [
            {"name": "category_order_forecast", "primary_key": ["category", "day"],
             "checks": {"columns": {"orders": {"min": 0}}}},
        ],
        "checks": {"backtest_error": {"description": "mean absolute error under 50%"}},
    }

`outputs` are catalog tables (the fields of a catalog table: `write`, `primary_key`, `checks`,
`on_fail`, ...), landing as `models.<name>`; their `checks` are judged by the platform's gate.
`checks` are the model's own, which it reports through Dagster Pipes; the platform fails the step
if it does not report one of them.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from dagster import AssetKey
from pydantic import AfterValidator, Field, ValidationError, model_validator

from platform_assets.catalog import describe_error
from platform_assets.config.base import TableConfig
from platform_assets.config.types import CatalogModel, Identifier
from platform_assets.models import ModelError
from resources.warehouse_schema import MODEL_SCHEMA

DECLARATION = "MODEL"
"""The name of the module-level dict literal that declares a model."""


def _table_reference(value: str) -> str:
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"{value!r} is not a warehouse table: write schema.table")
    return value


TableReference = Annotated[str, AfterValidator(_table_reference)]


class ModelCheck(CatalogModel):
    """A check the model computes and reports itself (`report_asset_check`)."""

    description: str = ""
    output: Identifier | None = None
    """The output it is about; may be left out when the model has one output."""
    blocking: bool = True
    """A failed blocking check keeps its output out of the warehouse, as the gate does."""


class ExternalModelConfig(CatalogModel):
    description: str = ""
    python: str = Field(default_factory=lambda: sys.executable)
    """The interpreter that runs the file (its own virtual environment, say); `${VAR}` allowed.
    It needs `dagster-pipes` and whatever the model imports. Default: the platform's own."""
    inputs: tuple[TableReference, ...] = Field(min_length=1)
    outputs: tuple[TableConfig, ...] = Field(min_length=1)
    checks: dict[Identifier, ModelCheck] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _outputs_and_checks_fit(self) -> ExternalModelConfig:
        names = [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"outputs: names repeat: {', '.join(names)}")
        for name, check in self.checks.items():
            if check.output is None and len(names) > 1:
                raise ValueError(
                    f"checks.{name}.output: the model has several outputs; name one of "
                    + ", ".join(names)
                )
            if check.output is not None and check.output not in names:
                raise ValueError(
                    f"checks.{name}.output: {check.output!r} is not one of the outputs "
                    + ", ".join(names)
                )
        return self

    def check_output(self, name: str) -> str:
        """The output the model's check `name` is about."""
        return self.checks[name].output or self.outputs[0].name


@dataclass(frozen=True)
class ExternalModel:
    """A validated model declaration and the file that runs it."""

    name: str
    path: Path
    config: ExternalModelConfig

    @property
    def inputs(self) -> tuple[AssetKey, ...]:
        return tuple(AssetKey(ref.split(".")) for ref in self.config.inputs)

    def key(self, output: str) -> AssetKey:
        return AssetKey([MODEL_SCHEMA, output])

    @property
    def keys(self) -> tuple[AssetKey, ...]:
        return tuple(self.key(o.name) for o in self.config.outputs)


def declaration(path: Path) -> dict[str, Any]:
    """The `MODEL = {...}` literal of a Python file, parsed (not run). Raises ModelError."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as error:
        raise ModelError(f"{path}: line {error.lineno}: {error.msg}") from None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == DECLARATION for t in targets):
            try:
                value = ast.literal_eval(node.value)  # type: ignore[attr-defined]
            except ValueError:
                raise ModelError(
                    f"{path}: {DECLARATION} must be a literal (dicts, lists, strings, numbers)"
                ) from None
            if not isinstance(value, dict):
                raise ModelError(f"{path}: {DECLARATION} must be a dict")
            return value
    raise ModelError(f"{path}: declares no {DECLARATION} = {{...}} at the top level")


def load_external_models(directory: Path) -> list[ExternalModel]:
    """Every `*.py` model of `directory` (none if it does not exist), in name order. Raises
    ModelError naming the file and the field."""
    if not directory.is_dir():
        return []
    models = []
    for path in sorted(directory.glob("*.py")):
        if not path.stem.isidentifier():
            raise ModelError(f"{path}: a model's file name must be an identifier")
        try:
            config = ExternalModelConfig.model_validate(declaration(path))
        except ValidationError as error:
            problems = "; ".join(describe_error(e) for e in error.errors())
            raise ModelError(f"{path}: {problems}") from None
        models.append(ExternalModel(path.stem, path.resolve(), config))
    return models
