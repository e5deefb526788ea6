"""A trained model in the producer, against the real stack: read from a bucket, scoring
every block, each record carrying the detector's name and score."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fraudstream.detection.detectors import ModelDetector
from fraudstream.paysim.generator import write_csv
from fraudstream.paysim.payments import parse_block
from fraudstream.settings.config import Settings
from fraudstream.storage import lake
from tests.integration.kafka_reading import decoded_values, read_committed
from tests.integration.pipeline import produce

ROWS = 20_000


def test_the_producer_splits_by_a_model_it_reads_from_a_bucket(
    settings: Settings, trained: dict[str, bytes], tmp_path: Path
) -> None:
    bucket = lake.lake_bucket(settings.gcp_project, settings.dataset_bucket)
    bucket.blob("models/gbm.onnx").upload_from_string(trained["gbm"])
    chosen = settings.model_copy(
        update={
            "detector": "gbm",
            "detector_model": f"gs://{settings.dataset_bucket}/models/gbm.onnx",
        }
    )
    source = tmp_path / "rows.csv"
    write_csv(source, rows=ROWS, seed=8)
    produce(chosen, source)

    read = {
        topic: decoded_values(
            settings.schema_registry_url,
            topic,
            read_committed(settings.kafka_bootstrap_servers, topic),
        )
        for topic in (settings.fraud_topic, settings.non_fraud_topic)
    }
    fraud, genuine = read[settings.fraud_topic], read[settings.non_fraud_topic]
    assert len(fraud) + len(genuine) == ROWS
    detector = ModelDetector(trained["gbm"])
    rows = parse_block(source.read_bytes().split(b"\n", 1)[1], 2).rows
    expected = detector.assess(rows)
    assert len(fraud) == int(expected.flagged.sum()) > 0
    assert {record["detector"] for record in fraud + genuine} == {"gbm"}
    threshold = detector.card.threshold
    assert all(record["score"] >= threshold for record in fraud)
    assert all(record["score"] < threshold for record in genuine)
    np.testing.assert_allclose(
        sorted(record["score"] for record in fraud), sorted(expected.scores[expected.flagged])
    )
    # Trained on other generated rows (seed 1), it finds these (seed 8) frauds.
    assert sum(record["isFraud"] for record in fraud) >= 0.9 * len(fraud)
