"""Fraud verdicts for a block of transactions: the part of the producer meant to be replaced.

A detector takes the records of a block (a pyarrow table with at least the
columns of a PaySim row) and returns an ``Assessment``: one verdict and one
score a row. True routes the row to the fraud topic; the score travels with
the record. Name one with ``DETECTOR``:

- ``label``: PaySim's own ``isFraud`` (the default, for replaying the log);
- ``threshold``: the amount is above ``DETECTOR_AMOUNT_THRESHOLD``;
- ``rules``: the readable rule set of ``RULES``;
- ``logreg``, ``iforest``, ``gbm``: a model trained by ``fraudstream train``,
  read from ``DETECTOR_MODEL`` (a path or ``gs://`` address);
- ``package.module:ClassName``: your own class, constructed without arguments,
  with ``assess(records)`` or ``verdicts(records)`` (a boolean a row).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudstream.detection.features import CENT, feature_matrix
from fraudstream.detection.model import ModelCard, ModelError, OnnxScorer
from fraudstream.settings.config import ConfigError

MODEL_DETECTORS = ("logreg", "iforest", "gbm")
TRANSFER_LIMIT = 10_000_000.0  # PaySim moves more than this in several transfers


@dataclass(frozen=True)
class Assessment:
    flagged: np.ndarray  # bool, one a row
    scores: np.ndarray  # float64, one a row: higher is more suspicious


class Detector(Protocol):
    name: str

    def assess(self, records: pa.Table) -> Assessment: ...


def _bools(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def _certain(flagged: np.ndarray) -> Assessment:
    """A yes/no detector's assessment: its score is 1.0 where it says fraud."""
    return Assessment(flagged, flagged.astype(np.float64))


class LabelDetector:
    """PaySim's own label: the verdict is ``isFraud``."""

    name = "label"

    def assess(self, records: pa.Table) -> Assessment:
        return _certain(_bools(records["isFraud"]))


class AmountThreshold:
    """Any payment above a fixed amount, as simple fraud demos do."""

    name = "threshold"

    def __init__(self, threshold: float = 900.0) -> None:
        self.threshold = threshold

    def assess(self, records: pa.Table) -> Assessment:
        return _certain(_bools(pc.greater(records["amount"], self.threshold)))


def _drains_the_account(records: pa.Table) -> pa.ChunkedArray:
    """A TRANSFER or CASH_OUT of the whole balance, leaving 0.0."""
    risky = pc.is_in(records["type"], value_set=pa.array(["TRANSFER", "CASH_OUT"]))
    whole = pc.less(pc.abs(pc.subtract(records["amount"], records["oldbalanceOrg"])), CENT)
    return pc.and_(pc.and_(risky, whole), pc.equal(records["newbalanceOrig"], 0.0))


def _transfer_at_the_limit(records: pa.Table) -> pa.ChunkedArray:
    """A TRANSFER of exactly the transfer limit that the balances account for:
    a piece of a larger theft."""
    transfer = pc.equal(records["type"], "TRANSFER")
    at_limit = pc.equal(records["amount"], TRANSFER_LIMIT)
    left = pc.subtract(records["oldbalanceOrg"], records["amount"])
    matches = pc.less(pc.abs(pc.subtract(left, records["newbalanceOrig"])), CENT)
    return pc.and_(pc.and_(transfer, at_limit), matches)


# Each rule by the name the documentation gives it; a row any rule holds for is fraud.
RULES: dict[str, Callable[[pa.Table], pa.ChunkedArray]] = {
    "drains the account": _drains_the_account,
    "a transfer at the limit": _transfer_at_the_limit,
}


class RuleSet:
    """PaySim's fraud pattern as rules, from the fields known when the payment happens
    (never ``newbalanceDest``, which is the balance at the end of the hour)."""

    name = "rules"

    def assess(self, records: pa.Table) -> Assessment:
        flagged = np.zeros(records.num_rows, dtype=bool)
        for rule in RULES.values():
            flagged |= _bools(rule(records))
        return _certain(flagged)


class ModelDetector:
    """A model trained by ``fraudstream train``: features, then one ONNX run a block."""

    def __init__(self, model: bytes) -> None:
        self.scorer = OnnxScorer(model)
        self.card: ModelCard = self.scorer.card
        self.name = self.card.detector

    def assess(self, records: pa.Table) -> Assessment:
        scores = self.scorer.scores(feature_matrix(records))
        return Assessment(scores >= self.card.threshold, scores)


class _VerdictsOnly:
    """A plug-in that only says yes or no, its verdicts given the scores 1.0 and 0.0."""

    def __init__(self, detector: object) -> None:
        self.detector = detector
        self.name = str(getattr(detector, "name", type(detector).__name__))

    def assess(self, records: pa.Table) -> Assessment:
        verdicts = self.detector.verdicts(records)  # type: ignore[attr-defined]
        return _certain(np.asarray(verdicts, dtype=bool))


BUILT_IN = ("label", "threshold", "rules", *MODEL_DETECTORS)


def load_detector(
    spec: str, amount_threshold: float = 900.0, read_model: Callable[[], bytes] | None = None
) -> Detector:
    """The detector ``spec`` names; ``ConfigError`` naming ``DETECTOR`` (or
    ``DETECTOR_MODEL``) when there is no such detector or its model is unusable.
    ``read_model`` returns the model file's bytes, for the model detectors."""
    if spec == "label":
        return LabelDetector()
    if spec == "threshold":
        return AmountThreshold(amount_threshold)
    if spec == "rules":
        return RuleSet()
    if spec in MODEL_DETECTORS:
        return _model_detector(spec, read_model)
    return _plug_in(spec)


def _model_detector(spec: str, read_model: Callable[[], bytes] | None) -> Detector:
    if read_model is None:
        raise _bad(spec, "a model detector needs DETECTOR_MODEL")
    try:
        detector = ModelDetector(read_model())
    except ModelError as error:
        raise ConfigError(f"invalid configuration: DETECTOR_MODEL: {error}") from None
    if detector.name != spec:
        raise ConfigError(
            f"invalid configuration: DETECTOR_MODEL: holds a {detector.name} model, "
            f"not {spec} (DETECTOR={spec})"
        )
    return detector


def _plug_in(spec: str) -> Detector:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise _bad(spec, f"use one of {', '.join(BUILT_IN)}, or package.module:Class")
    try:
        detector_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as error:
        raise _bad(spec, f"cannot import {module_name} ({error})") from error
    except AttributeError as error:
        raise _bad(spec, f"{module_name} has no {class_name}") from error
    detector = detector_class()
    if callable(getattr(detector, "assess", None)):
        return cast(Detector, detector)
    if callable(getattr(detector, "verdicts", None)):
        return _VerdictsOnly(detector)
    raise _bad(spec, f"{class_name} has neither assess(records) nor verdicts(records)")


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"invalid configuration: DETECTOR: no detector {spec!r}: {why}")
