"""The Markdown report of ``fraudstream evaluate``: a summary table, the goal, and per
detector its confusion matrix, its breakdown by type and the frauds it missed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fraudstream.detection.evaluation import (
    GOAL_PRECISION,
    GOAL_RECALL,
    LOOKS,
    SHOWN_MISSES,
    Measured,
    Scores,
    Truth,
    by_type,
    lookalikes,
    looks,
    score,
)

MISSED_FIELDS = ("step", "type", "amount", "oldbalanceOrg", "newbalanceOrig")


def render(
    truth: Truth,
    results: Sequence[Measured],
    *,
    source: str,
    command: str,
    figure: str,
    notes: dict[str, str],
) -> str:
    """The whole report; ``notes`` says, per detector, how it was made."""
    scored = {result.detector: score(truth, result) for result in results}
    # The label is the answer key, not a detector: the best is chosen among the others.
    candidates = [name for name in scored if name != "label"] or list(scored)
    best = max(candidates, key=lambda name: (scored[name].f1, scored[name].pr_auc))
    frauds = int(truth.labels.sum())
    lines = [
        "# Detectors on real PaySim rows",
        "",
        f"Measured on `{source}`: {len(truth.labels):,} real rows, {frauds:,} of them fraud "
        "(PaySim, CC BY-SA 4.0, by E. A. Lopez-Rojas, A. Elmir and S. Axelsson). "
        "Every model was trained on generated rows only. Made by:",
        "",
        "```bash",
        command,
        "```",
        "",
        "| detector | precision | recall | F1 | PR-AUC | flagged | false alarms | missed "
        "| rows/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_summary_row(name, s) for name, s in scored.items()),
        "",
        f"![precision-recall curves]({figure})",
        "",
        *_goal(best, scored[best], frauds),
    ]
    for result in results:
        lines += _detector_section(truth, result, scored[result.detector], notes)
    return "\n".join(lines) + "\n"


def _summary_row(name: str, s: Scores) -> str:
    return (
        f"| `{name}` | {s.precision:.4f} | {s.recall:.4f} | {s.f1:.4f} | {s.pr_auc:.4f} "
        f"| {s.true_positives + s.false_positives:,} | {s.false_positives:,} "
        f"| {s.false_negatives:,} | {_speed(s.rows_per_second)} |"
    )


def _speed(rows_per_second: float) -> str:
    return "-" if rows_per_second == float("inf") else f"{rows_per_second:,.0f}"


def _goal(best: str, s: Scores, frauds: int) -> list[str]:
    head = (
        f"**Goal: precision ≥ {GOAL_PRECISION} and recall ≥ {GOAL_RECALL}.** "
        f"The best detector here is `{best}`: precision {s.precision:.4f}, "
        f"recall {s.recall:.4f}."
    )
    if s.meets_goal:
        return [head + " It meets the goal.", ""]
    needed = int(np.ceil(GOAL_RECALL * frauds))
    short = []
    if s.recall < GOAL_RECALL:
        short.append(
            f"recall is {GOAL_RECALL - s.recall:.4f} short: it catches {s.true_positives} of "
            f"{frauds} frauds, and the goal needs {needed}"
        )
    if s.precision < GOAL_PRECISION:
        short.append(f"precision is {GOAL_PRECISION - s.precision:.4f} short")
    return [
        head + " It misses the goal: " + "; ".join(short) + ". Why is in its section below.",
        "",
    ]


def _detector_section(
    truth: Truth, result: Measured, s: Scores, notes: dict[str, str]
) -> list[str]:
    lines = [f"## `{result.detector}`", ""]
    if result.detector in notes:
        lines += [notes[result.detector], ""]
    lines += [
        "| | flagged | passed |",
        "| --- | --- | --- |",
        f"| fraud | {s.true_positives:,} | {s.false_negatives:,} |",
        f"| genuine | {s.false_positives:,} | {s.true_negatives:,} |",
        "",
        "| type | rows | frauds | caught | false alarms |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {kind} | {rows:,} | {frauds:,} | {caught:,} | {alarms:,} |"
            for kind, rows, frauds, caught, alarms in by_type(truth, result)
        ),
        "",
    ]
    return lines + _misses(truth, result)


def _misses(truth: Truth, result: Measured) -> list[str]:
    missed = np.flatnonzero(truth.labels & ~result.verdicts())
    if len(missed) == 0:
        return ["It misses no fraud.", ""]
    shown = truth.rows.take(missed[:SHOWN_MISSES])
    rows, shown_looks = shown.to_pylist(), looks(shown)
    lines = [
        f"The {len(missed):,} frauds it misses"
        + (f" (the first {SHOWN_MISSES})" if len(missed) > SHOWN_MISSES else "")
        + ":",
        "",
        "| " + " | ".join(MISSED_FIELDS) + " | what it looks like |",
        "| " + " | ".join("---" for _ in range(len(MISSED_FIELDS) + 1)) + " |",
    ]
    lines += [
        "| " + " | ".join(str(row[name]) for name in MISSED_FIELDS) + f" | {LOOKS[look]} |"
        for row, look in zip(rows, shown_looks, strict=True)
    ]
    lines += [
        "",
        "What they share with genuine rows of this file, in the fields a detector may use:",
        "",
    ]
    lines += [
        f"- {missed_count:,} {kind} {'row' if missed_count == 1 else 'rows'} moving {look}: "
        f"so do {genuine:,} genuine {kind} rows."
        for kind, look, missed_count, genuine in lookalikes(truth, missed)
    ]
    return [*lines, ""]


def write(report: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report)
