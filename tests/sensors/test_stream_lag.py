"""The stream sensor: a run while messages wait, never two of one table, lag observed, alerts."""

from __future__ import annotations

import json
from typing import Any

from dagster import AssetKey, DagsterRunStatus, build_sensor_context
from dagster._core.test_utils import create_run_for_test

from platform_assets.platform import build_definitions
from platform_assets.stream_kind.assets import STREAM_TABLE_TAG, StreamConsumers
from resources.alerts import AlertSink
from tests.conftest import Project
from tests.streams import redis_publish, redis_stream

CATALOG = """
name: signals
kind: stream
broker: {{type: redis}}
lag_alert: 3
tables:
  - name: pulse
    stream: {stream}
"""


def _tick(project: Project, cursor: str | None = None) -> Any:
    sink = AlertSink(path=str(project.root / "a.jsonl"))
    defs = build_definitions(project.catalog(), project.resources())
    sensor = defs.resolve_sensor_def("signals__pulse_stream")
    resources = {"alerts": sink, "streams": StreamConsumers()}
    with build_sensor_context(
        instance=project.instance, cursor=cursor, resources=resources
    ) as context:
        return sensor.evaluate_tick(context)


def _lags(result: Any) -> list[Any]:
    return [e.metadata["consumer_lag"].value for e in result.asset_events]


def test_a_run_is_launched_while_messages_wait_and_never_two_at_once(project: Project) -> None:
    with redis_stream() as stream:
        project.source("signals", CATALOG.format(stream=stream))
        idle = _tick(project)
        assert not idle.run_requests and _lags(idle) == [0]
        redis_publish(stream, ['{"a": 1}', '{"a": 2}'])
        waiting = _tick(project, idle.cursor)
        (request,) = waiting.run_requests
        assert request.asset_selection == [AssetKey(["signals", "pulse"])]
        assert request.tags[STREAM_TABLE_TAG] == "signals.pulse" and _lags(waiting) == [2]
        create_run_for_test(
            project.instance,
            job_name="ingest",
            status=DagsterRunStatus.STARTED,
            tags={STREAM_TABLE_TAG: "signals.pulse"},
        )
        busy = _tick(project, waiting.cursor)
        assert not busy.run_requests and "in progress" in (busy.skip_message or "")


def test_a_growing_lag_alerts_once_and_recovery_once(project: Project) -> None:
    with redis_stream() as stream:
        project.source("signals", CATALOG.format(stream=stream))
        cursor = None
        for count in (2, 2, 2):  # lag 2, 4, 6: past lag_alert (3) while growing at 4, once
            redis_publish(stream, ['{"a": 1}'] * count)
            cursor = _tick(project, cursor).cursor
        alerts_file = project.root / "a.jsonl"
        sent = [json.loads(line) for line in alerts_file.read_text().splitlines()]
        assert [(a["kind"], a["lag"]) for a in sent] == [("stream_lag", 4)]
        project.run("signals")
        _tick(project, cursor)
        sent = [json.loads(line) for line in alerts_file.read_text().splitlines()]
        assert [(a["kind"], a["lag"]) for a in sent] == [
            ("stream_lag", 4),
            ("stream_lag_recovered", 0),
        ]
