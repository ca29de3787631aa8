"""`trigger: on_arrival`: a new or changed file launches a run of its table, exactly once."""

import os

from dagster import AssetKey, build_sensor_context

from platform_assets.platform import build_definitions
from sensors.file_arrival import sensor_name
from tests.conftest import Project

ORDERS = """
name: shop
kind: files
trigger: on_arrival
tables:
  - {name: orders, path: "in/orders-*.csv"}
  - {name: refunds, path: "in/refunds.csv"}
"""


def _tick(project: Project, cursor: str | None) -> tuple[list[list[AssetKey]], list[str], str]:
    defs = build_definitions(project.catalog(), project.resources())
    sensor = defs.resolve_sensor_def(sensor_name(project.catalog().source("shop")))
    context = build_sensor_context(instance=project.instance, cursor=cursor)
    result = sensor.evaluate_tick(context)
    selections = [list(r.asset_selection or []) for r in result.run_requests or []]
    keys = [r.run_key or "" for r in result.run_requests or []]
    assert result.cursor is not None
    return selections, keys, result.cursor


def test_the_first_tick_records_the_files_and_runs_nothing(project: Project) -> None:
    project.source("shop", ORDERS)
    project.file("in/orders-1.csv", "id\n1\n")

    first, _, cursor = _tick(project, None)
    assert first == [], "starting the daemon launched a run nobody asked for"

    project.file("in/orders-2.csv", "id\n2\n")
    arrived, _, _ = _tick(project, cursor)
    assert arrived == [[AssetKey(["shop", "orders"])]]


def test_new_and_changed_files_trigger_once(project: Project) -> None:
    project.source("shop", ORDERS)
    _, _, cursor = _tick(project, None)
    project.file("in/orders-1.csv", "id\n1\n")

    first, first_keys, cursor = _tick(project, cursor)
    assert first == [[AssetKey(["shop", "orders"])]]

    again, _, cursor = _tick(project, cursor)
    assert again == [], "an unchanged file triggered a second run"

    project.file("in/refunds.csv", "id\n9\n")
    refunds, _, cursor = _tick(project, cursor)
    assert refunds == [[AssetKey(["shop", "refunds"])]]

    changed = project.file("in/orders-1.csv", "id\n1\n2\n")
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rerun, rerun_keys, cursor = _tick(project, cursor)
    assert rerun == [[AssetKey(["shop", "orders"])]]
    assert rerun_keys != first_keys

    quiet, _, _ = _tick(project, cursor)
    assert quiet == []


def test_sources_without_on_arrival_get_no_sensor(project: Project) -> None:
    project.source("shop", ORDERS.replace("trigger: on_arrival", "trigger: schedule"))
    defs = build_definitions(project.catalog(), project.resources())
    assert not [s for s in defs.sensors if s.name.endswith("_file_arrival")]
