"""``fraudstream train``: a detector fitted on generated rows only, saved as ONNX.

The rows come from ``fraudstream generate`` with the given seed, so the same
command makes the same model; real rows never reach a fit. The threshold is
chosen on a second generated set (seed + 1): the score that gives the best F1
there. The isolation forest sees no labels at all: it flags the share of rows
PaySim's fraud rate predicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from importlib.metadata import version

import lightgbm
import numpy as np
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType
from skl2onnx import to_onnx
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fraudstream.detection.features import FEATURES, feature_matrix
from fraudstream.detection.model import CARD_KEY, ModelCard, OnnxScorer
from fraudstream.paysim.generator import FRAUD_SHARE, csv_days
from fraudstream.paysim.payments import Block, parse_block

LIBRARIES = ("scikit-learn", "lightgbm", "onnx", "skl2onnx", "onnxmltools", "numpy")


def generated_features(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix and labels of ``rows`` generated rows."""
    parts = [
        (feature_matrix(block.rows), block.rows["isFraud"].to_numpy(zero_copy_only=False))
        for block in _generated_blocks(rows, seed)
    ]
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return np.concatenate([p[0] for p in parts]), labels


def _generated_blocks(rows: int, seed: int) -> Iterator[Block]:
    line = 2
    for day in csv_days(rows, seed):
        block = parse_block(day, line)
        line += day.count(b"\n")
        yield block


def train(detector: str, rows: int, seed: int = 1) -> bytes:
    """The ONNX file of ``detector`` trained on ``rows`` generated rows."""
    features, labels = generated_features(rows, seed)
    trainers = {
        "logreg": _logistic_regression,
        "gbm": _gradient_boosting,
        "iforest": _isolation_forest,
    }
    if detector not in trainers:
        raise ValueError(f"no trainable detector {detector!r}: use one of {', '.join(trainers)}")
    model, card = trainers[detector](features, labels, seed)
    card = replace(card, rows=rows, libraries={name: version(name) for name in LIBRARIES})
    if detector != "iforest":
        card = replace(card, threshold=_best_f1_threshold(model, card, rows, seed + 1))
    return _with_card(model, card)


def _logistic_regression(
    features: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[onnx.ModelProto, ModelCard]:
    pipeline = make_pipeline(
        StandardScaler(), LogisticRegression(C=10.0, max_iter=2_000, random_state=seed)
    )
    pipeline.fit(features, labels)
    model = to_onnx(pipeline, features[:1], options={"zipmap": False}, target_opset=17)
    return model, ModelCard("logreg", 0.5, seed, 0)


def _gradient_boosting(
    features: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[onnx.ModelProto, ModelCard]:
    # Fraud is separable on these features, and there unbounded leaves run off to
    # +-infinity and flip whole classes: max_delta_step and reg_lambda keep them finite.
    booster = lightgbm.LGBMClassifier(
        n_estimators=100,
        num_leaves=8,
        learning_rate=0.1,
        max_delta_step=2.0,
        reg_lambda=1.0,
        random_state=seed,
        n_jobs=2,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
    )
    booster.fit(features, labels)
    model = convert_lightgbm(
        booster,
        initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        zipmap=False,
        target_opset=15,
    )
    return model, ModelCard("gbm", 0.5, seed, 0)


def _isolation_forest(
    features: np.ndarray, _labels: np.ndarray, seed: int
) -> tuple[onnx.ModelProto, ModelCard]:
    forest = IsolationForest(n_estimators=100, contamination=FRAUD_SHARE, random_state=seed)
    forest.fit(features)
    model = to_onnx(forest, features[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    # Its "scores" output is higher for normal rows; flagged below the fitted offset's 0.
    return model, ModelCard("iforest", 0.0, seed, 0, output="scores", column=0, sign=-1.0)


def _best_f1_threshold(model: onnx.ModelProto, card: ModelCard, rows: int, seed: int) -> float:
    """The score with the best F1 on other generated rows (seed ``seed``)."""
    features, labels = generated_features(max(rows // 2, 1), seed)
    scores = OnnxScorer(_with_card(model, card)).scores(features)
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def _with_card(model: onnx.ModelProto, card: ModelCard) -> bytes:
    model.graph.name = card.detector  # the converters name it by a random UUID
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card.to_json()
    return bytes(model.SerializeToString())
