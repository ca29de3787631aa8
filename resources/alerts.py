"""The alert sink: failure tickets and freshness alerts, appended to a JSON-lines file and
optionally posted to a webhook (retried while it fails transiently). Secrets are redacted before
anything leaves the process, and a ticket repeating one already sent within the dedupe window is
dropped."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from filelock import FileLock
from pydantic import Field
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from resources.redaction import redact

_VOLATILE = re.compile(r"\b[0-9a-f]{6,}\b|\d+", re.I)


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: no connection, a timeout, a 5xx or a 429."""
    import requests  # loads when a webhook is posted to

    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code == 429 or error.response.status_code >= 500
    return isinstance(error, requests.ConnectionError | requests.Timeout)


def fingerprint(*parts: str) -> str:
    """What makes two alerts "the same": their parts with ids, counts and hashes blanked out."""
    return "|".join(_VOLATILE.sub("#", part) for part in parts)


class AlertSink(ConfigurableResource):
    """Where alerts go: one JSON object per line in `path`, and a POST to `webhook_url` if set."""

    path: str = Field(description="The JSON-lines file every alert is appended to.")
    webhook_url: str | None = Field(
        default=None, description="Optional URL each alert is POSTed to."
    )
    dedupe_window_seconds: float = Field(
        default=3600.0, description="An alert with the same key within this window is dropped."
    )
    secrets: list[str] = Field(
        default_factory=list, description="Values masked in every alert (the catalog's ${VARS})."
    )
    timeout_seconds: float = Field(default=10.0, description="Webhook request timeout.")
    webhook_attempts: int = Field(
        default=3, ge=1, description="Tries per alert while the webhook fails transiently."
    )

    @property
    def file(self) -> Path:
        return Path(self.path)

    def send(
        self, kind: str, key: str, fields: Mapping[str, Any], now: datetime | None = None
    ) -> dict[str, Any] | None:
        """Record one alert unless an alert of the same `kind` and `key` was sent within the
        window; returns what was sent, or None when it was a duplicate."""
        at = now or datetime.now(UTC)
        alert = {
            "kind": kind,
            "key": redact(key, self.secrets),
            "at": at.isoformat(),
            **{name: self._clean(value) for name, value in fields.items()},
        }
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.file) + ".lock", timeout=30):
            if self._sent_recently(kind, alert["key"], at):
                return None
            with self.file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(alert, default=str) + "\n")
        if self.webhook_url:
            self._post(self.webhook_url, alert)
        return alert

    def _post(self, url: str, alert: dict[str, Any]) -> None:
        import requests  # loads when a webhook is posted to

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.webhook_attempts),
            wait=wait_exponential(multiplier=0.25, max=4),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                requests.post(url, json=alert, timeout=self.timeout_seconds).raise_for_status()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert in the file, oldest first."""
        if not self.file.exists():
            return []
        lines = self.file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _sent_recently(self, kind: str, key: str, at: datetime) -> bool:
        since = at - timedelta(seconds=self.dedupe_window_seconds)
        return any(
            a.get("kind") == kind
            and a.get("key") == key
            and since <= datetime.fromisoformat(a["at"]) <= at
            for a in self.alerts()
        )

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self.secrets)
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, Mapping):
            return {k: self._clean(v) for k, v in value.items()}
        return value
