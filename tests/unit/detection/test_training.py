from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from fraudstream.detection.features import FEATURES
from fraudstream.detection.model import CARD_KEY, ModelCard
from fraudstream.detection.training import generated_features, train
from tests.conftest import TRAINED_ROWS as ROWS


def test_training_rows_come_from_the_seeded_generator() -> None:
    features, labels = generated_features(20_000, seed=3)
    again, _ = generated_features(20_000, seed=3)
    other, _ = generated_features(20_000, seed=4)
    assert features.shape == (20_000, len(FEATURES))
    np.testing.assert_array_equal(features, again)
    assert not np.array_equal(features, other)
    assert 0 < labels.sum() < 100


@pytest.mark.parametrize("name", ["logreg", "gbm", "iforest"])
def test_a_model_file_carries_its_card(trained: dict[str, bytes], name: str) -> None:
    model = onnx.load_from_string(trained[name])
    props = {p.key: p.value for p in model.metadata_props}
    card = ModelCard.from_json(props[CARD_KEY])
    assert card.detector == name and card.rows == ROWS and card.seed == 1
    assert card.features == FEATURES
    assert {"scikit-learn", "onnx", "numpy"} <= set(card.libraries)
    assert json.loads(props[CARD_KEY])["threshold"] == card.threshold


@pytest.mark.parametrize("name", ["logreg", "gbm", "iforest"])
def test_the_same_seed_trains_the_same_model(trained: dict[str, bytes], name: str) -> None:
    assert train(name, rows=ROWS, seed=1) == trained[name]


def test_an_unknown_detector_cannot_be_trained() -> None:
    with pytest.raises(ValueError, match="no trainable detector 'rules'"):
        train("rules", rows=1_000)
