"""Where things live. Every path can be moved by an environment variable; relative paths
(in variables and in the catalog) are taken from the project root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """`TRIBUTARY_ROOT`, or the folder holding `workspace.yaml` and this package."""
    return Path(os.environ.get("TRIBUTARY_ROOT", PACKAGE_DIR.parent)).resolve()


def resolve(path: str | Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_root() / candidate


def catalog_dir() -> Path:
    return resolve(os.environ.get("TRIBUTARY_CATALOG", PACKAGE_DIR / "catalog"))


def warehouse_path() -> str:
    """`TRIBUTARY_WAREHOUSE`: a DuckDB file (relative to the project root), or a DuckLake
    (`ducklake:postgres:dbname=... host=...`, with `TRIBUTARY_DATA_PATH`) taken as is."""
    configured = os.environ.get("TRIBUTARY_WAREHOUSE", "data/warehouse.duckdb")
    if configured.startswith("ducklake:"):
        return configured
    return str(resolve(configured))


def data_path() -> str | None:
    """`TRIBUTARY_DATA_PATH`: a DuckLake's data path (a folder, relative to the project root,
    or a URL such as `s3://bucket/lake/`)."""
    configured = os.environ.get("TRIBUTARY_DATA_PATH")
    if not configured:
        return None
    if "://" in configured:
        return configured
    return str(resolve(configured)) + "/"


def staging_dir() -> Path:
    return resolve(os.environ.get("TRIBUTARY_STAGING", "data/.staging"))


class SettingsError(ValueError):
    """An environment variable holds a value the platform cannot use."""


WAREHOUSE_VARIABLES = {
    "memory_limit": "TRIBUTARY_MEMORY_LIMIT",
    "lock_timeout_seconds": "TRIBUTARY_LOCK_TIMEOUT_SECONDS",
    "writeback_seconds": "TRIBUTARY_WRITEBACK_SECONDS",
}
"""The `Warehouse` resource's tuning fields, and the environment variables that set them."""


def warehouse_options() -> dict[str, Any]:
    """The warehouse tuning fields set in the environment (see `WAREHOUSE_VARIABLES`)."""
    return {
        field: os.environ[variable]
        for field, variable in WAREHOUSE_VARIABLES.items()
        if os.environ.get(variable)
    }


def alerts_path() -> Path:
    """The JSON-lines file alerts and failure tickets are appended to."""
    return resolve(os.environ.get("TRIBUTARY_ALERTS", "data/alerts.jsonl"))


def alert_webhook_url() -> str | None:
    """`TRIBUTARY_ALERT_WEBHOOK`: a URL every alert is also POSTed to (unset: none)."""
    return os.environ.get("TRIBUTARY_ALERT_WEBHOOK") or None


def models_dir(catalog: Path | None = None) -> Path:
    """`TRIBUTARY_MODELS`, or the `models/` folder next to the catalog folder."""
    if "TRIBUTARY_MODELS" in os.environ:
        return resolve(os.environ["TRIBUTARY_MODELS"])
    return (catalog or catalog_dir()).parent / "models"


def dagster_home() -> Path:
    return resolve(os.environ.get("DAGSTER_HOME", ".dagster"))


EXECUTORS = ("default", "celery")
"""`TRIBUTARY_EXECUTOR`: `default` runs a run's steps in its own processes (Dagster's
multiprocess executor; in-process where `tributary run` asks for one worker); `celery` sends
each step to a Celery worker (see docs/deploy.md)."""


def executor_name() -> str:
    """`TRIBUTARY_EXECUTOR`, one of `EXECUTORS` (default `default`)."""
    name = os.environ.get("TRIBUTARY_EXECUTOR") or "default"
    if name not in EXECUTORS:
        raise SettingsError(f"TRIBUTARY_EXECUTOR={name!r}: must be one of {', '.join(EXECUTORS)}")
    return name


def celery_config() -> dict[str, Any]:
    """The Celery executor's settings: `TRIBUTARY_CELERY_BROKER` (default the local RabbitMQ),
    `TRIBUTARY_CELERY_BACKEND` (default `rpc://`) and `TRIBUTARY_CELERY_QUEUE`, the queue steps
    are sent to and workers listen on (default `tributary`)."""
    return {
        "broker": os.environ.get("TRIBUTARY_CELERY_BROKER")
        or "pyamqp://guest:guest@127.0.0.1:5672//",
        "backend": os.environ.get("TRIBUTARY_CELERY_BACKEND") or "rpc://",
        "config_source": {
            "task_default_queue": os.environ.get("TRIBUTARY_CELERY_QUEUE") or "tributary"
        },
    }
