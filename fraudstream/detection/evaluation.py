"""``fraudstream evaluate``: detectors measured on a labelled CSV, as Markdown and a PNG.

Every detector sees the same blocks the producer would give it, and only its
``assess`` call is timed. PaySim's ``isFraud`` is the truth; the report gives
precision, recall, F1, the area under the precision-recall curve, the
confusion matrix, a breakdown by type, the curve itself and rows/s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pyarrow as pa
from matplotlib import pyplot
from sklearn.metrics import average_precision_score, precision_recall_curve

from fraudstream.detection.detectors import Detector
from fraudstream.paysim.format import TYPES, check_header
from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.source import read_chunks, read_header

matplotlib.use("Agg")  # files only, never a window

GOAL_PRECISION = 0.99
GOAL_RECALL = 0.97
SHOWN_MISSES = 12


@dataclass
class Measured:
    """One detector's verdicts and scores over a whole file."""

    detector: str
    flagged: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0

    def verdicts(self) -> np.ndarray:
        return np.concatenate(self.flagged)

    def all_scores(self) -> np.ndarray:
        return np.concatenate(self.scores)


@dataclass(frozen=True)
class Truth:
    """The file's rows (as the detectors saw them) and PaySim's labels."""

    rows: pa.Table

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.rows["isFraud"].to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    pr_auc: float
    true_negatives: int
    false_positives: int
    false_negatives: int
    true_positives: int
    rows_per_second: float

    @property
    def meets_goal(self) -> bool:
        return self.precision >= GOAL_PRECISION and self.recall >= GOAL_RECALL


def measure(csv_path: Path, detectors: Sequence[Detector]) -> tuple[Truth, list[Measured]]:
    """Each detector over every block of ``csv_path``."""
    measured = [Measured(detector.name) for detector in detectors]
    blocks = []
    for rows in _blocks(csv_path):
        blocks.append(rows)
        for detector, result in zip(detectors, measured, strict=True):
            started = time.perf_counter()
            assessment = detector.assess(rows)
            result.seconds += time.perf_counter() - started
            result.flagged.append(assessment.flagged)
            result.scores.append(assessment.scores)
    return Truth(pa.concat_tables(blocks)), measured


def _blocks(csv_path: Path) -> Iterator[pa.Table]:
    with csv_path.open("rb") as stream:
        header, offset = read_header(stream)
        check_header(header)
        for chunk in read_chunks(stream, offset, 2):
            yield parse_block(chunk.data, chunk.first_line).rows


def score(truth: Truth, result: Measured) -> Scores:
    labels, flagged = truth.labels, result.verdicts()
    tp = int((flagged & labels).sum())
    fp = int((flagged & ~labels).sum())
    fn = int((~flagged & labels).sum())
    tn = len(labels) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pr_auc = float(average_precision_score(labels, result.all_scores())) if labels.any() else 0.0
    speed = len(labels) / result.seconds if result.seconds else float("inf")
    return Scores(precision, recall, f1, pr_auc, tn, fp, fn, tp, speed)


def by_type(truth: Truth, result: Measured) -> list[tuple[str, int, int, int, int]]:
    """Per type: rows, frauds, frauds caught, false alarms."""
    labels, flagged = truth.labels, result.verdicts()
    kinds = np.asarray(truth.rows["type"].to_numpy(zero_copy_only=False))
    table = []
    for kind in TYPES:
        chosen = kinds == kind
        table.append(
            (
                kind,
                int(chosen.sum()),
                int((labels & chosen).sum()),
                int((labels & flagged & chosen).sum()),
                int((~labels & flagged & chosen).sum()),
            )
        )
    return table


def plot_curves(truth: Truth, results: Sequence[Measured], path: Path) -> None:
    """The precision-recall curve of each detector (a point for a yes/no one)."""
    figure, axes = pyplot.subplots(figsize=(7, 5), dpi=100)
    for result in results:
        scores = result.all_scores()
        if len(np.unique(scores)) > 2:
            precision, recall, _ = precision_recall_curve(truth.labels, scores)
            axes.step(recall, precision, where="post", label=result.detector)
        else:
            measured = score(truth, result)
            axes.plot([measured.recall], [measured.precision], "o", label=result.detector)
    axes.axhline(GOAL_PRECISION, color="grey", linestyle=":", linewidth=1)
    axes.axvline(GOAL_RECALL, color="grey", linestyle=":", linewidth=1)
    axes.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        title="Precision and recall on real PaySim rows",
    )
    axes.legend(loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})
    pyplot.close(figure)


LOOKS = {
    "empty": "an empty account on both sides",
    "overdrawn": "more than the balance before, leaving 0.0",
    "unexplained": "balances that do not account for the amount",
    "partial": "a withdrawal the balances account for, leaving money behind",
    "drained": "the whole balance, leaving 0.0",
}


def looks(table: pa.Table) -> np.ndarray:
    """Which ``LOOKS`` each row falls under, from the fields a detector may use."""
    amount, before, after = (
        np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)
        for name in ("amount", "oldbalanceOrg", "newbalanceOrig")
    )
    explained = np.abs(before - amount - after) < 0.005
    return np.select(
        [
            (before == 0) & (after == 0) & (amount > 0),
            (amount > before) & (after == 0),
            ~explained,
            after > 0,
        ],
        ["empty", "overdrawn", "unexplained", "partial"],
        default="drained",
    )


def lookalikes(truth: Truth, missed: np.ndarray) -> list[tuple[str, str, int, int]]:
    """Per (type, look) of the missed frauds: how many were missed, and how many
    genuine rows of the file look the same."""
    kinds = np.asarray(truth.rows["type"].to_numpy(zero_copy_only=False))
    look = looks(truth.rows)
    genuine = ~truth.labels
    found = sorted({(str(kinds[i]), str(look[i])) for i in missed})
    return [
        (
            kind,
            LOOKS[name],
            int(((kinds[missed] == kind) & (look[missed] == name)).sum()),
            int((genuine & (kinds == kind) & (look == name)).sum()),
        )
        for kind, name in found
    ]
