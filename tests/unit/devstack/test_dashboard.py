"""The local dashboard's files: Prometheus' configuration, its targets, the console page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fraudstream.devstack import dashboard
from fraudstream.devstack.layout import CONFIRMATION_SERVICE_METRICS_PORT, METRICS_PORTS
from fraudstream.runtime import metrics


def test_each_chart_reads_only_metrics_the_services_export() -> None:
    charts = dashboard.charts()
    assert len(charts) >= 10
    for chart in charts:
        named = set(re.findall(r"fraudstream_[a-z_]+", chart.query))
        bare = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in named}
        assert named and bare <= metrics.METRIC_NAMES, chart


def test_the_stack_s_prometheus_scrapes_the_demo_and_the_confirmation_service(
    tmp_path: Path,
) -> None:
    targets = dashboard.write_configuration(tmp_path)

    configuration = json.loads((tmp_path / "prometheus.yml").read_text())  # JSON is YAML
    (job,) = configuration["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == [f"{targets}/*.json"]
    groups = json.loads((targets / "demo.json").read_text())
    ports = {group["labels"]["service"]: group["targets"] for group in groups}
    expected = {**METRICS_PORTS, "confirmation-service": CONFIRMATION_SERVICE_METRICS_PORT}
    assert ports == {service: [f"127.0.0.1:{port}"] for service, port in expected.items()}


def test_targets_added_later_are_a_file_of_their_own(tmp_path: Path) -> None:
    path = dashboard.add_targets(tmp_path, "member-2", {"fraud": 9203})
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9203"], "labels": {"service": "fraud"}}
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["member-2.json"]  # no half-written file


def test_the_console_page_draws_every_chart_and_holds_no_template_action() -> None:
    charts = dashboard.charts()
    page = dashboard.console_page(charts)
    assert page.count("new PromConsole.Graph(") == len(charts)
    for chart in charts:
        assert json.dumps(chart.query) in page
    assert "{{" not in page  # Prometheus reads the page as a Go template
