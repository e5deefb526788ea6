from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fraudstream.config import ConfigError
from fraudstream.records import EmailDirectory, to_records
from fraudstream.transactions import parse_block
from producer.detectors import DrainedAccountRule, LabelDetector, load_detector


def _sample_records(paysim_sample: Path) -> pa.Table:
    data = paysim_sample.read_bytes().split(b"\n", 1)[1]
    block = parse_block(data, 2)
    return to_records(block, datetime(2026, 1, 1, tzinfo=UTC), EmailDirectory("x.example", {}))


def test_the_label_detector_follows_is_fraud(paysim_sample: Path) -> None:
    records = _sample_records(paysim_sample)
    verdicts = LabelDetector().verdicts(records)
    assert verdicts.dtype == bool
    assert verdicts.tolist() == records["isFraud"].to_pylist()


def test_the_drained_account_rule_finds_the_sample_frauds(paysim_sample: Path) -> None:
    records = _sample_records(paysim_sample)
    verdicts = DrainedAccountRule().verdicts(records)
    labels = np.array(records["isFraud"].to_pylist())
    caught = int((verdicts & labels).sum())
    assert caught == 14  # of 16, without looking at the label (two frauds move 0.0)
    assert int((verdicts & ~labels).sum()) == 0


class AlwaysFraud:
    name = "always"

    def verdicts(self, records: pa.Table) -> np.ndarray:
        return np.ones(records.num_rows, dtype=bool)


class NotADetector:
    name = "nothing"


def test_detectors_load_by_name_or_import_path() -> None:
    assert isinstance(load_detector("label"), LabelDetector)
    assert isinstance(load_detector("rules"), DrainedAccountRule)
    assert isinstance(load_detector("tests.unit.test_detectors:AlwaysFraud"), AlwaysFraud)
    with pytest.raises(ConfigError, match="DETECTOR: no detector 'magic'"):
        load_detector("magic")
    with pytest.raises(ConfigError, match="has no verdicts"):
        load_detector("tests.unit.test_detectors:NotADetector")
