"""The Dagster UI as a user sees it, in a real browser: `dagster dev` over the demo catalog (a
temporary instance and warehouse), driven with Playwright through Debian's Chromium.

Chromium must be installed (`.ci/run` installs the `chromium` package). Without it the test fails;
set TRIBUTARY_SKIP_UI_TESTS=1 to skip it on a machine that has no browser. Screenshots of every
page go to `test-artifacts/ui/` (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets.platform import load_platform_catalog

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _graphql(base: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.load(response)["data"]
        return data


_AUTOMATIC = ("dagster/schedule_name", "dagster/sensor_name")
"""Tags of runs a schedule or sensor launched (the daemon's), not a person."""


def _runs(base: str) -> list[dict[str, str]]:
    """Every run, newest first: `runId`, `status` and `by`, `user` for a run someone launched
    (the CLI, a click) or the schedule or sensor that launched it."""
    data = _graphql(
        base, "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
    )
    runs = []
    for run in data["runsOrError"]["results"]:
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        by = next((tags[key] for key in _AUTOMATIC if key in tags), "user")
        runs.append({"runId": run["runId"], "status": run["status"], "by": by})
    return runs


def _loaded(base: str) -> bool:
    try:
        return bool(_graphql(base, "{ assetNodes { id } }")["assetNodes"])
    except (OSError, KeyError, TypeError, ValueError):
        return False


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("TRIBUTARY_SKIP_UI_TESTS") and not os.environ.get("CI"):
            pytest.skip("TRIBUTARY_SKIP_UI_TESTS is set and no chromium is installed")
        pytest.fail("chromium is not installed: apt-get install chromium (see .ci/run)")
    return path


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dagster dev` on a free loopback port, in its own process group, stopped with it."""
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRIBUTARY_WAREHOUSE": str(home / "warehouse.duckdb"),
        "TRIBUTARY_STAGING": str(home / "staging"),
        "TRIBUTARY_ALERTS": str(home / "alerts.jsonl"),
        "PYTHONPATH": str(REPO),
    }
    # The orders' upstream tables, loaded as a user would: their reference checks then run.
    subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "run", "--source", "crm", "--source",
         "inventory", "--no-downstream"],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    dagster = Path(sys.executable).with_name("dagster")
    log = (home / "dagster-dev.log").open("wb")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the webserver and daemon stop with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _loaded(base):  # up, and the code location loaded
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (home / "dagster-dev.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"dagster dev did not start:\n{tail}")
            time.sleep(0.5)
        yield base
    finally:
        # `dagster dev` answers Ctrl-C (not SIGTERM) but takes its time over a temporary
        # instance nobody reads again: whatever of its group is left after a moment is killed.
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def test_the_ui_shows_the_demo_and_materializes_an_asset(chromium: str, dagster_ui: str) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    catalog = load_platform_catalog()
    schedules = {f"{s.name}_schedule" for s in catalog.sources if s.schedule}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def dismiss_newsletter(page: Page) -> None:
        """Dagster's newsletter pop-up comes up whenever it likes: answer "Skip" each time."""
        page.add_locator_handler(
            page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
        )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)  # the UI loads the code location once, slowly
        expect.set_options(timeout=60_000)
        dismiss_newsletter(page)
        try:
            # Every demo asset, in the group of its source.
            page.goto(f"{dagster_ui}/assets?view=flat")
            rows = page.locator("[class*=VirtualizedTable_row]")
            for source in catalog.sources:
                for table in source.tables:
                    link = page.locator(f'a[href="/assets/{source.name}/{table.name}"]')
                    row = rows.filter(has=link)
                    expect(row).to_have_count(1)
                    group = row.locator('a[href^="/asset-groups"]')
                    expect(group).to_have_text(source.name)
            shot(page, "assets")

            # Schedules and sensors.
            page.goto(f"{dagster_ui}/automation")
            for name in [f"{s.name}_schedule" for s in catalog.sources if s.schedule] + [
                "failure_tickets",
                "freshness_alerts",
                "webshop_file_arrival",
            ]:
                expect(page.get_by_role("link", name=name).first).to_be_visible()
            shot(page, "automation")

            # Materialize one asset: a new run that reaches Success. Until the click, no sensor
            # launched a run: starting the UI ran nothing nobody asked for (a schedule whose time
            # came while the test ran may have).
            runs = _runs(dagster_ui)
            assert [r for r in runs if r["by"] not in ("user", *schedules)] == []
            assert [r["by"] for r in runs].count("user") == 1, "only the fixture's own load"
            before = {run["runId"] for run in runs}
            page.goto(f"{dagster_ui}/assets/webshop/orders")
            # The button's accessible name carries its icon's ("materialization Materialize").
            page.get_by_role("button", name="Materialize").first.click()
            deadline = time.monotonic() + 240  # a loaded 2-core machine is slow
            run: dict[str, str] | None = None
            while time.monotonic() < deadline:
                # the models' automation rebuilds them after it, as it should: not this run
                new = [
                    r for r in _runs(dagster_ui) if r["runId"] not in before and r["by"] == "user"
                ]
                if new and new[-1]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                    run = new[-1]
                    break
                time.sleep(0.5)
            assert run is not None, "clicking Materialize started no run that finished"
            assert run["status"] == "SUCCESS"
            page.goto(f"{dagster_ui}/runs/{run['runId']}")
            expect(page.get_by_text("Success").first).to_be_visible()
            shot(page, "run")

            # The asset's checks: passed ones, and failed ones at warning severity (the demo's
            # orders carry bad rows on purpose, quarantined; three name customers crm does not
            # know), each with its metadata.
            page.goto(f"{dagster_ui}/assets/webshop/orders?view=checks")
            expect(page.get_by_role("img", name="check_circle", exact=True).first).to_be_visible()
            expect(page.get_by_role("img", name="warning_outline", exact=True)).to_have_count(3)
            expect(page.get_by_text("Succeeded")).to_have_count(8)
            expect(page.get_by_text("Failed", exact=True)).to_have_count(3)
            expect(page.get_by_role("row", name="failing_rows 0")).to_be_visible()
            shot(page, "checks")
            page.get_by_text("references_customer_id").first.click()
            expect(page.get_by_role("row", name="failing_rows 3")).to_be_visible()
            expect(page.get_by_role("row", name="on_fail quarantine_rows")).to_be_visible()
            shot(page, "failed-check")
        except Exception:
            shot(page, "failure")
            raise
        finally:
            browser.close()
