"""``fraudstream train`` and ``fraudstream evaluate``: the detectors' offline commands.

This module pulls in scikit-learn, LightGBM, the ONNX converters and
matplotlib (``pip install 'fraudstream[train]'``); the command line imports it
only when one of these commands runs, so a producer or consumer machine needs
none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fraudstream.detection import evaluation, training
from fraudstream.detection import report as markdown
from fraudstream.detection.detectors import (
    BUILT_IN,
    MODEL_DETECTORS,
    RULES,
    Detector,
    ModelDetector,
)
from fraudstream.settings.config import ConfigError, Settings
from fraudstream.wiring.producing import settings_detector

REPORT_FIGURE_SUFFIX = "-pr.png"


def train(detector: str, rows: int, seed: int, output: Path, say: object = print) -> Path:
    """Train ``detector`` on ``rows`` generated rows and write its ONNX file."""
    model = training.train(detector, rows=rows, seed=seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(model)
    card = ModelDetector(model).card
    say(  # type: ignore[operator]
        f"trained {detector} on {rows:,} generated rows (seed {seed}), threshold "
        f"{card.threshold:.4g}: {output} ({len(model):,} bytes)"
    )
    return output


def chosen_detectors(settings: Settings, names: Sequence[str], models: Path) -> list[Detector]:
    """The detectors ``names`` as the producer would load them, models from ``models``."""
    detectors = []
    for name in names:
        model = models / f"{name}.onnx"
        if name in MODEL_DETECTORS and not model.is_file():
            raise ConfigError(
                f"--models {models}: no {model.name} there: train it with `fraudstream train "
                f"--detector {name}` (into models/), or point --models at the folder that has it"
            )
        found = str(model) if name in MODEL_DETECTORS else None
        chosen = settings.model_copy(update={"detector": name, "detector_model": found})
        detectors.append(settings_detector(chosen))
    return detectors


def evaluate(
    settings: Settings,
    csv_path: Path,
    names: Sequence[str],
    *,
    models: Path,
    report: Path,
    command: str,
    say: object = print,
) -> Path:
    """Measure ``names`` on ``csv_path`` and write the report and its figure."""
    if not csv_path.is_file():
        raise ConfigError(f"no such CSV file: {csv_path}")
    detectors = chosen_detectors(settings, names, models)
    truth, results = evaluation.measure(csv_path, detectors)
    figure = report.with_name(report.stem + REPORT_FIGURE_SUFFIX)
    evaluation.plot_curves(truth, results, figure)
    notes = {d.name: _note(d, settings) for d in detectors}
    text = markdown.render(
        truth, results, source=str(csv_path), command=command, figure=figure.name, notes=notes
    )
    markdown.write(text, report)
    for result in results:
        scored = evaluation.score(truth, result)
        say(  # type: ignore[operator]
            f"{result.detector:<10} precision {scored.precision:.4f}  recall {scored.recall:.4f}"
            f"  F1 {scored.f1:.4f}  PR-AUC {scored.pr_auc:.4f}"
        )
    say(f"report: {report}, figure: {figure}")  # type: ignore[operator]
    return report


def _note(detector: Detector, settings: Settings) -> str:
    if isinstance(detector, ModelDetector):
        card = detector.card
        libraries = ", ".join(f"{k} {v}" for k, v in sorted(card.libraries.items()))
        return (
            f"Trained on {card.rows:,} generated rows (seed {card.seed}) over "
            f"{len(card.features)} features; flags a score of {card.threshold:.4g} or more. "
            f"Built with {libraries}."
        )
    notes = {
        "label": "PaySim's own `isFraud`: the ceiling every other row is measured against.",
        "threshold": f"Flags every amount above {settings.detector_amount_threshold:,.0f}.",
        "rules": "Flags a row when any rule holds: " + "; ".join(RULES) + ".",
    }
    return notes.get(detector.name, "")


# What ``evaluate --all`` measures: every detector, the label first as the ceiling.
ALL = BUILT_IN
