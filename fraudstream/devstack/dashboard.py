"""The local stack's dashboard: Debian's Prometheus scrapes the services' metrics and draws
the cloud's charts (``fraudstream/runtime/dashboard.json``, which Cloud Monitoring draws
too) on one console page of its own.

What it scrapes is listed in files of its targets folder, which it watches: the demo's
ports are written at start; a test or a second member adds a file of its own
(``add_targets``) and is scraped within seconds.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fraudstream.devstack.layout import (
    CONFIRMATION_SERVICE_METRICS_PORT,
    DASHBOARD_CONSOLE,
    HOST,
    METRICS_PORTS,
)

SCRAPE_SECONDS = 5
DEMO_TARGETS = {**METRICS_PORTS, "confirmation-service": CONFIRMATION_SERVICE_METRICS_PORT}


@dataclass(frozen=True)
class Chart:
    title: str
    query: str  # PromQL


def charts() -> list[Chart]:
    """The dashboard's charts, in order."""
    text = resources.files("fraudstream.runtime").joinpath("dashboard.json").read_text()
    return [Chart(chart["title"], chart["query"]) for chart in json.loads(text)["charts"]]


def configuration(targets_dir: Path) -> str:
    """prometheus.yml: every file in ``targets_dir`` scraped each few seconds. (JSON is
    YAML.)"""
    job = {
        "job_name": "fraudstream",
        "file_sd_configs": [{"files": [f"{targets_dir}/*.json"], "refresh_interval": "5s"}],
    }
    scraping = {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": "15s"}
    return json.dumps({"global": scraping, "scrape_configs": [job]}, indent=2)


def add_targets(targets_dir: Path, name: str, ports: dict[str, int]) -> Path:
    """Have Prometheus scrape ``HOST:port`` for each service in ``ports``, labelled with
    ``service``; the file ``name``.json says so (delete it to stop)."""
    groups = [
        {"targets": [f"{HOST}:{port}"], "labels": {"service": service}}
        for service, port in ports.items()
    ]
    path = targets_dir / f"{name}.json"
    written = path.with_suffix(".tmp")  # whole, or not at all, when Prometheus reads it
    written.write_text(json.dumps(groups, indent=2))
    written.replace(path)
    return path


def console_page(shown: list[Chart]) -> str:
    """The console template: one graph a chart, over the last 15 minutes, each linked to
    Prometheus' own graph page for its query. (A console template is a Go template; this
    page holds no ``{{``.)"""
    static = "/classic/static"
    graphs = "\n".join(_graph(index, chart) for index, chart in enumerate(shown))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fraudstream: the local dashboard</title>
<link rel="stylesheet" href="{static}/bootstrap4/css/bootstrap.min.css">
<link rel="stylesheet" href="{static}/rickshaw/rickshaw.min.css">
<link rel="stylesheet" href="{static}/css/prom_console.css">
<script>var PATH_PREFIX = "";  // prom_console.js builds its queries' addresses on it</script>
<script src="{static}/jquery/jquery.min.js"></script>
<script src="{static}/d3/d3.min.js"></script>
<script src="{static}/rickshaw/rickshaw.min.js"></script>
<script src="{static}/js/prom_console.js"></script>
</head>
<body class="container-fluid">
<h1>fraudstream</h1>
<p>The services' metrics, scraped every {SCRAPE_SECONDS} s while they run (<a
href="/classic/targets">targets</a>); the same charts as the cloud's dashboard.</p>
{graphs}
</body>
</html>
"""


def _graph(index: int, chart: Chart) -> str:
    options: dict[str, object] = {
        "expr": chart.query,
        "duration": 15 * 60,  # seconds
        "width": 800,
        "height": 200,
    }
    if not _series_labels(chart.query):  # one series: no label to tell it by
        options["name"] = chart.title
    return (
        f'<h2 class="h5">{html.escape(chart.title)}</h2>\n'
        f'<div id="chart{index}"></div>\n'
        f"<script>new PromConsole.Graph(Object.assign({json.dumps(options)}, "
        f'{{node: document.getElementById("chart{index}")}}));</script>'
    )


def write_configuration(root: Path) -> Path:
    """Prometheus' configuration, its targets (the demo's) and its console page, in
    ``root``; return the targets folder."""
    targets = root / "targets"
    (root / "consoles").mkdir(parents=True, exist_ok=True)
    targets.mkdir(exist_ok=True)
    (root / "prometheus.yml").write_text(configuration(targets))
    (root / "consoles" / DASHBOARD_CONSOLE).write_text(console_page(charts()))
    add_targets(targets, "demo", DEMO_TARGETS)
    return targets


def _series_labels(query: str) -> set[str]:
    """The labels a query's series are told apart by (its ``by`` clauses, but ``le``, which
    ``histogram_quantile`` takes away)."""
    named = (
        label.strip()
        for clause in re.findall(r"by \(([^)]*)\)", query)
        for label in clause.split(",")
    )
    return {label for label in named if label and label != "le"}
