"""The Dagster code location: `dagster dev -w workspace.yaml` and `tributary` load this."""

from platform_assets.platform import build_definitions, load_platform_catalog

defs = build_definitions(load_platform_catalog())
