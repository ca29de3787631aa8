"""The alert sink: JSON lines, webhook delivery to a real local server, dedupe, redaction."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer

from resources.alerts import AlertSink, fingerprint
from resources.redaction import redact

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_alerts_append_json_lines_and_post_to_the_webhook(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    sink = AlertSink(path=str(tmp_path / "alerts.jsonl"), webhook_url=httpserver.url_for("/hook"))

    sent = sink.send("run_failure", "crm|boom", {"source": "crm", "error": "boom"}, now=T0)

    assert sent is not None
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["source"] for line in lines] == ["crm"]
    (request, _response), *rest = httpserver.log
    assert not rest
    assert request.get_json() == sent


def test_a_failing_webhook_raises_after_the_file_is_written(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("down", status=503)
    sink = AlertSink(path=str(tmp_path / "a.jsonl"), webhook_url=httpserver.url_for("/hook"))

    with pytest.raises(requests.HTTPError):
        sink.send("run_failure", "k", {"error": "x"}, now=T0)
    assert len(sink.alerts()) == 1
    assert len(httpserver.log) == 3  # webhook_attempts


def test_a_webhook_that_fails_once_still_gets_the_alert(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    sink = AlertSink(path=str(tmp_path / "a.jsonl"), webhook_url=httpserver.url_for("/hook"))

    sent = sink.send("run_failure", "k", {"error": "x"}, now=T0)

    assert [request.get_json() for request, _ in httpserver.log] == [sent, sent]


def test_a_webhook_that_refuses_the_alert_is_not_asked_again(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("bad request", status=400)
    sink = AlertSink(path=str(tmp_path / "a.jsonl"), webhook_url=httpserver.url_for("/hook"))

    with pytest.raises(requests.HTTPError, match="400"):
        sink.send("run_failure", "k", {"error": "x"}, now=T0)
    assert len(httpserver.log) == 1


def test_the_same_alert_within_the_window_is_sent_once(tmp_path: Path) -> None:
    sink = AlertSink(path=str(tmp_path / "a.jsonl"), dedupe_window_seconds=3600)

    assert sink.send("run_failure", "crm|e", {}, now=T0) is not None
    assert sink.send("run_failure", "crm|e", {}, now=T0 + timedelta(minutes=59)) is None
    assert sink.send("run_failure", "webshop|e", {}, now=T0 + timedelta(minutes=1)) is not None
    assert sink.send("run_failure", "crm|e", {}, now=T0 + timedelta(minutes=61)) is not None
    assert [a["key"] for a in sink.alerts()] == ["crm|e", "webshop|e", "crm|e"]


def test_fingerprints_ignore_ids_but_not_the_error() -> None:
    a = fingerprint("crm", "load 20260301T120000-ab12cd34 failed: no file matches 'x'")
    b = fingerprint("crm", "load 20260302T090000-ffee0011 failed: no file matches 'x'")
    assert a == b
    assert a != fingerprint("crm", "load 1 failed: disk full")


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    sink = AlertSink(path=str(tmp_path / "a.jsonl"), secrets=["s3cr3t-value"])

    sink.send(
        "run_failure",
        "k",
        {
            "error": "GET https://user:hunter22@api.example/x?api_key=abc123&page=2 failed "
            "with token s3cr3t-value; Authorization: Bearer eyJhbGciOi.xyz",
            "nested": {"detail": ["password=letmein"]},
        },
        now=T0,
    )

    text = (tmp_path / "a.jsonl").read_text()
    for secret in ("hunter22", "abc123", "s3cr3t-value", "eyJhbGciOi", "letmein"):
        assert secret not in text
    assert "page=2" in text and "user:***@" in text


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "source 'crm', table 'customers': no file matches 'in/*.csv'"
    assert redact(text, ["ab"]) == text
