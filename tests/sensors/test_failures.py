"""A failed run leaves one redacted support ticket per source and error in the alert sink."""

from typing import Any

import pytest
from dagster import build_run_status_sensor_context

from platform_assets.platform import INGEST_JOB, build_definitions
from resources.alerts import AlertSink
from sensors.failures import SENSOR_NAME
from sensors.sink import default_alert_sink
from tests.conftest import Project

SECRET = "tok-9f8e7d6c5b"


def _fail_once(project: Project) -> tuple[Any, Any]:
    defs = build_definitions(project.catalog(), project.resources())
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=project.instance, raise_on_error=False
    )
    assert not result.success
    return defs, result


def _evaluate(defs: Any, result: Any, project: Project, sink: AlertSink) -> None:
    context = build_run_status_sensor_context(
        sensor_name=SENSOR_NAME,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=project.instance,
        dagster_run=result.dagster_run,
        resources={"alerts": sink},
    ).for_run_failure()
    defs.resolve_sensor_def(SENSOR_NAME)(context)


def test_a_failed_run_writes_one_redacted_ticket_per_source_and_error(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_DIR", SECRET)
    monkeypatch.setenv("TRIBUTARY_ALERTS", str(project.root / "alerts.jsonl"))
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables: [{name: customers, path: "in/${EXPORT_DIR}/customers.csv"}]
        """,
    )
    sink = default_alert_sink(project.catalog())
    assert sink.secrets == [SECRET]

    defs, first = _fail_once(project)
    _evaluate(defs, first, project, sink)
    _, second = _fail_once(project)
    _evaluate(defs, second, project, sink)

    tickets = sink.alerts()
    assert len(tickets) == 1, "the same error within the window made a second ticket"
    ticket = tickets[0]
    assert ticket["kind"] == "run_failure"
    assert ticket["run_id"] == first.run_id
    assert ticket["source"] == "crm"
    assert ticket["step"] == "crm"
    assert "no file matches 'in/***/customers.csv'" in ticket["error"]
    assert SECRET not in (project.root / "alerts.jsonl").read_text()


def test_the_ticket_of_a_source_names_every_table_that_did_not_load(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBUTARY_ALERTS", str(project.root / "alerts.jsonl"))
    project.file("in/users.csv", "id,name\n1,Ada\n")
    project.source(
        "crm",
        """
        name: crm
        kind: files
        tables:
          - {name: customers, path: in/customers.csv}
          - {name: users, path: in/users.csv}
          - {name: visits, path: in/visits.csv}
        """,
    )
    sink = default_alert_sink(project.catalog())

    defs, failed = _fail_once(project)
    _evaluate(defs, failed, project, sink)

    (ticket,) = sink.alerts()
    customers, visits = ticket["error"].split(" | ")
    assert (
        customers.startswith("source 'crm', table 'customers': ") and "no file matches" in customers
    )
    assert visits.startswith("source 'crm', table 'visits': ") and "no file matches" in visits
