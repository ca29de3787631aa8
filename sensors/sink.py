"""The platform's alert sink, configured from settings and the catalog."""

from __future__ import annotations

import os

from platform_assets import settings
from platform_assets.catalog import Catalog
from platform_assets.config.env import references
from resources.alerts import AlertSink


def catalog_secrets(catalog: Catalog) -> list[str]:
    """Values of the environment variables the catalog files refer to (`${VAR}`)."""
    names = {
        name for path in catalog.files.values() for name in references(path.read_text("utf-8"))
    }
    return sorted(os.environ[name] for name in names if os.environ.get(name))


def default_alert_sink(catalog: Catalog) -> AlertSink:
    return AlertSink(
        path=str(settings.alerts_path()),
        webhook_url=settings.alert_webhook_url(),
        secrets=catalog_secrets(catalog),
    )
