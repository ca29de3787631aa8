"""External models: `models/<name>.py` files run in their own process through Dagster Pipes,
whose outputs land through the warehouse writer like any load.

One folder: `config` (the `MODEL = {...}` declaration), `handover` (inputs exported read-only,
outputs handed back as Parquet), `process` (the model's interpreter and its Pipes session),
`assets` (the Dagster wiring and the run).
"""

from __future__ import annotations

from platform_assets.external_models.assets import build_external_model_assets
from platform_assets.external_models.config import ExternalModel, load_external_models

__all__ = ["ExternalModel", "build_external_model_assets", "load_external_models"]
