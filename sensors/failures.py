"""Support tickets for failed runs: one per source and error within the alert sink's dedupe
window, with the run id, source, step and a redacted one-line error summary (naming every table
of the source that did not load)."""

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    run_failure_sensor,
)

from platform_assets.loading import failed_table_lines
from resources.alerts import AlertSink, fingerprint

SENSOR_NAME = "failure_tickets"
SOURCE_TAG = "tributary/source"
_MAX_SUMMARY = 500


def error_summary(message: str) -> str:
    """The first non-empty line of an error message, shortened."""
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "unknown error")
    return line[:_MAX_SUMMARY]


def tickets(context: RunFailureSensorContext) -> list[dict[str, str]]:
    """One ticket per failed step (a step is one source's tables), or one for the run when no
    step failed (e.g. it failed at launch)."""
    run = context.dagster_run
    found: list[dict[str, str]] = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        message = error.message if error else ""
        if error and (tables := failed_table_lines(error)) is not None:
            message = " | ".join(tables)
        elif error and error.cause:
            message = f"{message.strip()} ({error.cause.message.strip()})"
        step = event.step_key or ""
        found.append(
            {
                "run_id": run.run_id,
                "source": step or run.tags.get(SOURCE_TAG, run.job_name),
                "step": step,
                "error": error_summary(message),
            }
        )
    if not found:
        found.append(
            {
                "run_id": run.run_id,
                "source": run.tags.get(SOURCE_TAG, run.job_name),
                "step": "",
                "error": error_summary(context.failure_event.message or "run failed"),
            }
        )
    return found


def build_failure_sensor() -> SensorDefinition:
    @run_failure_sensor(
        name=SENSOR_NAME,
        monitor_all_code_locations=False,
        description="Writes a support ticket to the alert sink for every failed run.",
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _failure_tickets(context: RunFailureSensorContext, alerts: AlertSink) -> None:
        for ticket in tickets(context):
            key = fingerprint(ticket["source"], ticket["error"])
            alerts.send("run_failure", key, ticket)

    return _failure_tickets
