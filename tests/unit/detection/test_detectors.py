from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fraudstream.detection.detectors import (
    AmountThreshold,
    LabelDetector,
    ModelDetector,
    RuleSet,
    load_detector,
)
from fraudstream.detection.features import FEATURES, feature_matrix
from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.records import EmailDirectory, to_records
from fraudstream.settings.config import ConfigError


def _sample_records(paysim_sample: Path) -> pa.Table:
    data = paysim_sample.read_bytes().split(b"\n", 1)[1]
    block = parse_block(data, 2)
    return to_records(block, datetime(2026, 1, 1, tzinfo=UTC), EmailDirectory("x.example", {}))


def _labels(records: pa.Table) -> np.ndarray:
    return np.array(records["isFraud"].to_pylist())


def test_the_label_detector_follows_is_fraud(paysim_sample: Path) -> None:
    records = _sample_records(paysim_sample)
    assessment = LabelDetector().assess(records)
    assert assessment.flagged.dtype == bool
    assert assessment.flagged.tolist() == records["isFraud"].to_pylist()
    assert assessment.scores.tolist() == [float(f) for f in records["isFraud"].to_pylist()]


def test_the_rules_find_the_sample_frauds_that_drain_an_account(paysim_sample: Path) -> None:
    records = _sample_records(paysim_sample)
    flagged, labels = RuleSet().assess(records).flagged, _labels(records)
    assert int((flagged & labels).sum()) == 14  # of 16: two overdraw like genuine rows
    assert int((flagged & ~labels).sum()) == 0


def test_the_rules_flag_a_transfer_at_the_limit_that_the_balances_explain() -> None:
    rows = pa.table(
        {
            "type": ["TRANSFER", "TRANSFER", "CASH_OUT"],
            "amount": [1e7, 1e7, 1e7],
            "oldbalanceOrg": [25e6, 25e6, 25e6],
            "newbalanceOrig": [15e6, 0.0, 15e6],
        }
    )
    assert RuleSet().assess(rows).flagged.tolist() == [True, False, False]


def test_the_threshold_flags_amounts_above_it() -> None:
    rows = pa.table({"amount": [899.99, 900.0, 900.01]})
    assert AmountThreshold(900.0).assess(rows).flagged.tolist() == [False, False, True]
    assert AmountThreshold(10.0).assess(rows).flagged.all()


def test_features_never_look_at_the_destination(paysim_sample: Path) -> None:
    records = _sample_records(paysim_sample)
    scrambled = records.set_column(
        records.schema.get_field_index("newbalanceDest"),
        "newbalanceDest",
        pa.array(np.random.default_rng(1).random(records.num_rows) * 1e6),
    ).set_column(
        records.schema.get_field_index("oldbalanceDest"),
        "oldbalanceDest",
        pa.array(np.zeros(records.num_rows)),
    )
    features = feature_matrix(records)
    assert features.shape == (records.num_rows, len(FEATURES)) and features.dtype == np.float32
    np.testing.assert_array_equal(features, feature_matrix(scrambled))
    assert not any("dest" in name.lower() for name in FEATURES)


def test_the_balance_error_is_exact_to_the_cent_before_float32() -> None:
    rows = pa.table(
        {
            "step": [1, 1],
            "type": ["TRANSFER", "TRANSFER"],
            "nameDest": ["C1", "C2"],
            "amount": [92_445_516.64, 92_445_516.64],
            "oldbalanceOrg": [92_445_516.64, 92_445_516.65],
            "newbalanceOrig": [0.0, 0.0],
        }
    )
    features = feature_matrix(rows)
    matches = features[:, FEATURES.index("amount_is_balance")]
    assert matches.tolist() == [1.0, 0.0]


class AlwaysFraud:
    name = "always"

    def verdicts(self, records: pa.Table) -> np.ndarray:
        return np.ones(records.num_rows, dtype=bool)


class NotADetector:
    name = "nothing"


def test_detectors_load_by_name_or_import_path() -> None:
    assert isinstance(load_detector("label"), LabelDetector)
    assert isinstance(load_detector("rules"), RuleSet)
    assert load_detector("threshold", amount_threshold=5.0).threshold == 5.0  # type: ignore[attr-defined]
    plug_in = load_detector("tests.unit.detection.test_detectors:AlwaysFraud")
    assessment = plug_in.assess(pa.table({"x": [1, 2]}))
    assert plug_in.name == "always" and assessment.scores.tolist() == [1.0, 1.0]
    with pytest.raises(ConfigError, match="DETECTOR: no detector 'magic'"):
        load_detector("magic")
    with pytest.raises(ConfigError, match="has neither assess"):
        load_detector("tests.unit.detection.test_detectors:NotADetector")


def test_a_model_detector_without_a_usable_model_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="needs DETECTOR_MODEL"):
        load_detector("gbm")
    with pytest.raises(ConfigError, match="DETECTOR_MODEL: not an ONNX model"):
        load_detector("gbm", read_model=lambda: b"\x80\x04pickle, not ONNX")


def test_a_model_of_another_detector_is_refused(trained: dict[str, bytes]) -> None:
    with pytest.raises(ConfigError, match="holds a logreg model, not gbm"):
        load_detector("gbm", read_model=lambda: trained["logreg"])


@pytest.mark.parametrize("name", ["logreg", "gbm"])
def test_trained_models_score_a_block_at_once(
    trained: dict[str, bytes], paysim_sample: Path, name: str
) -> None:
    detector = load_detector(name, read_model=lambda: trained[name])
    assert isinstance(detector, ModelDetector) and detector.name == name
    records = _sample_records(paysim_sample)
    assessment = detector.assess(records)
    labels = _labels(records)
    assert assessment.scores.shape == (records.num_rows,)
    # Small training sets still learn the draining pattern from generated rows only.
    assert int((assessment.flagged & labels).sum()) >= 12
    assert int((assessment.flagged & ~labels).sum()) <= 3
    assert detector.assess(records.slice(0, 0)).flagged.tolist() == []
