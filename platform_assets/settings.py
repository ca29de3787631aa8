"""Where things live. Every path can be moved by an environment variable; relative paths
(in variables and in the catalog) are taken from the project root."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """`TRIBUTARY_ROOT`, or the folder holding `workspace.yaml` and this package."""
    return Path(os.environ.get("TRIBUTARY_ROOT", PACKAGE_DIR.parent)).resolve()


def resolve(path: str | Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_root() / candidate


def catalog_dir() -> Path:
    return resolve(os.environ.get("TRIBUTARY_CATALOG", PACKAGE_DIR / "catalog"))


def warehouse_path() -> Path:
    return resolve(os.environ.get("TRIBUTARY_WAREHOUSE", "data/warehouse.duckdb"))


def staging_dir() -> Path:
    return resolve(os.environ.get("TRIBUTARY_STAGING", "data/.staging"))


def dagster_home() -> Path:
    return resolve(os.environ.get("DAGSTER_HOME", ".dagster"))
