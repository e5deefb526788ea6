"""The local dashboard, against the real stack: its Prometheus scrapes a consumer that
serves its metrics, every chart's query runs, and the page draws every chart."""

from __future__ import annotations

import html
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from fraudstream.devstack.dashboard import add_targets, charts
from fraudstream.devstack.layout import PROMETHEUS_URL, run_dir
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Stack, free_port
from tests.integration.pipeline import produce, start_consumer, wait_until

ROWS = 400
RECORDS_CHART = next(c for c in charts() if c.title.startswith("Records consumed per second"))
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"


def _query(promql: str) -> list[dict[str, Any]]:
    """The instant vector Prometheus answers ``promql`` with; a query it refuses fails."""
    url = f"{PROMETHEUS_URL}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _total(promql: str) -> float:
    return sum(float(sample["value"][1]) for sample in _query(promql))


@pytest.fixture
def dashboard_url(stack: Stack) -> str:
    url = os.environ.get("DASHBOARD_URL")
    if not url:
        pytest.skip("the stack in use has no dashboard: DASHBOARD_URL is unset")
    return url


def test_the_dashboard_shows_a_running_consumer_s_metrics(
    dashboard_url: str, browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    targets = add_targets(run_dir() / "prometheus" / "targets", f"test-{port}", {"test": port})
    try:
        source = tmp_path / "log.csv"
        write_csv(source, rows=ROWS, seed=21)
        produce(settings, source)
        start_consumer(settings, "non-fraud", metrics_port=port)
        group = settings.non_fraud_consumer_group
        taken = f'fraudstream_consumer_records_total{{group="{group}"}}'
        wait_until(lambda: _total(taken) >= ROWS * 0.9, "Prometheus to scrape the consumer", 90)
        # The dashboard's chart of records consumed draws this group (once scraped twice).
        drawn = f"sum by (group) (rate({taken}[5m]))"
        wait_until(lambda: bool(_query(drawn)), "a rate over two scrapes", 60)
    finally:
        targets.unlink()

    for chart in charts():  # each query runs (a typo or a renamed metric fails here)
        _query(chart.query)
    with urllib.request.urlopen(dashboard_url, timeout=10) as answer:
        text = answer.read().decode()
    assert all(html.escape(chart.title) in text for chart in charts())
    _drawn_in_a_browser(browser, dashboard_url, charts().index(RECORDS_CHART))


def _drawn_in_a_browser(browser: Browser, url: str, chart: int) -> None:
    """The page, opened in Chromium, draws the chart numbered ``chart`` with no script
    error; saved to build/screenshots/dashboard.png to be looked at."""
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(f"console: {message.text}"))
    page.goto(url)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.wait_for_selector(f"#chart{chart} svg path.path", state="attached", timeout=45_000)
    finally:
        page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)
        page.close()
        print(errors)  # shown with a failure
    assert not [error for error in errors if not error.startswith("console: ")], errors
