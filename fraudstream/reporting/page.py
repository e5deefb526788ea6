"""The run report: one self-contained HTML page, its plots inline SVG drawn by matplotlib."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from fraudstream.reporting.facts import Facts

Draw = Callable[[Axes], None]


def write_report(facts: Facts, path: Path) -> Path:
    """Write the page to ``path``; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(facts), encoding="utf-8")
    return path


def render_report(facts: Facts) -> str:
    """The page: one self-contained HTML document, its plots inline."""
    environment = Environment(
        loader=PackageLoader("fraudstream.reporting", "templates"), autoescape=select_autoescape()
    )
    return environment.get_template("report.html.j2").render(
        facts=facts,
        written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        types=_types(facts),
        plots=_plots(facts),
    )


def _types(facts: Facts) -> list[tuple[str, int, float, float]]:
    """(type, rows, total amount, median amount) of each transaction type."""
    return [
        (name, len(amounts), sum(amounts), median(amounts))
        for name, amounts in sorted(facts.amounts_by_type.items())
    ]


def _plots(facts: Facts) -> dict[str, Markup]:
    plots = {
        "steps": _svg(lambda axes: _steps(axes, facts)),
        "amounts": _svg(lambda axes: _amounts(axes, facts)),
        "emails": _svg(lambda axes: _emails(axes, facts)),
    }
    if facts.email_latency:
        plots["latency"] = _svg(lambda axes: _latency_over_time(axes, facts))
        plots["latency_spread"] = _svg(lambda axes: _latency_spread(axes, facts))
    if facts.answers:
        plots["answers"] = _svg(lambda axes: _answers(axes, facts))
    if any(d.answered for d in facts.detectors):
        plots["precision"] = _svg(lambda axes: _precision(axes, facts))
    return plots


def _svg(draw: Draw) -> Markup:
    """The drawing as inline SVG (a Figure of its own: no pyplot, no display needed)."""
    figure = Figure(figsize=(8, 3.2), dpi=100)
    draw(figure.subplots())
    figure.tight_layout()
    svg = io.StringIO()
    figure.savefig(svg, format="svg", metadata={"Date": None})
    text = svg.getvalue()
    return Markup(text[text.index("<svg") :])  # the markup is matplotlib's own


def _steps(axes: Axes, facts: Facts) -> None:
    steps = sorted(facts.rows_by_step)
    axes.bar(
        steps, [facts.rows_by_step[s] for s in steps], width=1.0, color="#8aa4c8", label="rows"
    )
    fraud = axes.twinx()
    fraud.plot(
        steps,
        [facts.fraud_by_step[s] for s in steps],
        color="#c0392b",
        linewidth=1,
        label="flagged as fraud",
    )
    axes.set(xlabel="PaySim step (hour)", ylabel="rows")
    fraud.set_ylabel("flagged as fraud", color="#c0392b")


def _amounts(axes: Axes, facts: Facts) -> None:
    names = sorted(facts.amounts_by_type)
    positive = [[a for a in facts.amounts_by_type[n] if a > 0] or [1.0] for n in names]
    axes.boxplot(positive, showfliers=False)
    axes.set_xticks(range(1, len(names) + 1), names)
    axes.set(yscale="log", ylabel="amount (log scale)")


def _emails(axes: Axes, facts: Facts) -> None:
    statuses = ["sent", "rejected"]
    counts = [facts.emails[s] for s in statuses]
    axes.barh(statuses, counts, color=["#27ae60", "#c0392b"])
    axes.set(xlabel="emails")


_EMAIL_KINDS = ((True, "fraud confirmation", "#c0392b"), (False, "notification", "#2c7fb8"))


def _latency_over_time(axes: Axes, facts: Facts) -> None:
    for fraud, label, colour in _EMAIL_KINDS:
        sent = [(when, seconds) for when, seconds, kind in facts.email_latency if kind is fraud]
        if sent:
            times = date2num([when for when, _ in sent])  # type: ignore[no-untyped-call]
            axes.plot(times, [s for _, s in sent], ".", ms=2, color=colour, label=label)
    axes.xaxis_date()
    axes.set(ylabel="seconds from the payment", yscale="log")
    axes.legend(loc="upper left")
    axes.tick_params(axis="x", labelrotation=30)


def _latency_spread(axes: Axes, facts: Facts) -> None:
    for fraud, label, colour in _EMAIL_KINDS:
        seconds = [s for _, s, kind in facts.email_latency if kind is fraud]
        if seconds:
            axes.ecdf(seconds, color=colour, label=label)
    axes.set(xlabel="seconds from the payment to its email", ylabel="share of emails")
    axes.set_xscale("log")
    axes.legend(loc="lower right")


def _answers(axes: Axes, facts: Facts) -> None:
    for status, colour in (("confirmed_fraud", "#c0392b"), ("not_fraud", "#27ae60")):
        times = date2num([when for when, said in facts.answers if said == status])  # type: ignore[no-untyped-call]
        if len(times):
            axes.step(times, range(1, len(times) + 1), where="post", color=colour, label=status)
    axes.xaxis_date()
    axes.set(ylabel="answers so far")
    axes.legend(loc="upper left")
    axes.tick_params(axis="x", labelrotation=30)


def _precision(axes: Axes, facts: Facts) -> None:
    answered = [d for d in facts.detectors if d.answered]
    axes.bar(
        [d.detector for d in answered], [d.precision or 0.0 for d in answered], color="#8aa4c8"
    )
    axes.set(ylim=(0, 1.05), ylabel="precision by the answers")
