from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fraudstream.storage.batches import BatchKey, to_ndjson
from fraudstream.topology import LakeFolder


def test_names_are_deterministic_and_sort_by_offset() -> None:
    key = BatchKey("non_fraud_transaction", 4, 1200, 1299)
    name = key.object_name(LakeFolder.TRANSACTIONS)
    assert name == BatchKey("non_fraud_transaction", 4, 1200, 1299).object_name(
        LakeFolder.TRANSACTIONS
    )
    assert name == (
        "transaction/topic=non_fraud_transaction/partition=004/"
        "00000000000000001200-00000000000000001299.jsonl"
    )
    later = BatchKey("non_fraud_transaction", 4, 10_000, 10_099).object_name(
        LakeFolder.TRANSACTIONS
    )
    assert sorted([later, name]) == [name, later]


def test_an_unknown_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown lake folder"):
        BatchKey("t", 0, 0, 0).object_name("tmp")  # type: ignore[arg-type]


def test_ndjson_is_one_object_a_line_and_reads_back() -> None:
    records = [
        {"transaction_id": "a", "amount": 92_445_516.64, "at": datetime(2026, 1, 1, tzinfo=UTC)},
        {"transaction_id": "b", "amount": 0.0, "note": "é\nnewline"},
    ]
    data = to_ndjson(records)
    lines = data.decode().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {
        "amount": 92_445_516.64,
        "at": "2026-01-01T00:00:00+00:00",
        "transaction_id": "a",
    }
    assert json.loads(lines[1])["note"] == "é\nnewline"
    assert to_ndjson(records) == data
