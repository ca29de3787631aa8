"""Freshness alerts fire once per state change (stale, escalated, recovered), not per tick."""

from datetime import UTC, datetime, timedelta

from dagster import AssetKey, AssetMaterialization, build_sensor_context

from resources.alerts import AlertSink
from sensors.freshness import SENSOR_NAME, build_freshness_sensor
from tests.conftest import Project


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_one_alert_per_transition(project: Project) -> None:
    project.source(
        "shop",
        """
        name: shop
        kind: files
        owner: team:commerce
        freshness: {warn_after: 2h, fail_after: 6h}
        tables: [{name: orders, path: in/o.csv}]
        """,
    )
    project.source("adhoc", "name: adhoc\nkind: files\ntables: [{name: t, path: in/t.csv}]\n")
    clock = Clock()
    sensor = build_freshness_sensor(project.catalog().sources, clock)
    assert sensor is not None and sensor.name == SENSOR_NAME
    sink = AlertSink(path=str(project.root / "alerts.jsonl"))
    cursor: str | None = None
    start = clock.now

    def tick(after: timedelta) -> list[str]:
        nonlocal cursor
        clock.now = start + after
        context = build_sensor_context(
            instance=project.instance, cursor=cursor, resources={"alerts": sink}
        )
        sensor.evaluate_tick(context)
        cursor = context.cursor
        return [f"{a['kind']}:{a['state']}" for a in sink.alerts()]

    assert tick(timedelta(0)) == [], "a never-loaded table is not an alert"
    project.instance.report_runless_asset_event(AssetMaterialization(AssetKey(["shop", "orders"])))
    start = datetime.now(UTC)

    assert tick(timedelta(hours=1)) == []
    assert tick(timedelta(hours=3)) == ["freshness_stale:warn"]
    assert tick(timedelta(hours=4)) == ["freshness_stale:warn"], "alerted again on the next tick"
    assert tick(timedelta(hours=7)) == ["freshness_stale:warn", "freshness_stale:fail"]
    assert tick(timedelta(hours=8)) == ["freshness_stale:warn", "freshness_stale:fail"]

    project.instance.report_runless_asset_event(AssetMaterialization(AssetKey(["shop", "orders"])))
    start = datetime.now(UTC)
    recovered = tick(timedelta(minutes=5))
    assert recovered[-1] == "freshness_recovered:fresh" and len(recovered) == 3
    assert tick(timedelta(minutes=10)) == recovered
    assert sink.alerts()[1]["owner"] == "team:commerce"


def test_no_sensor_without_freshness(project: Project) -> None:
    project.source("adhoc", "name: adhoc\nkind: files\ntables: [{name: t, path: in/t.csv}]\n")
    assert build_freshness_sensor(project.catalog().sources) is None
