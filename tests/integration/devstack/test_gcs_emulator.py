"""The GCS emulator is real: the google-cloud-storage client stores and returns objects."""

from __future__ import annotations

import uuid
from pathlib import Path

from fraudstream.storage.batches import BatchKey, to_ndjson
from fraudstream.storage.lake import ensure_bucket, storage_client, upload_file, write_object
from fraudstream.topology import LakeFolder
from tests.integration.conftest import Stack


def test_object_round_trip(stack: Stack, tmp_path: Path) -> None:
    client = storage_client("fraudstream-tests")
    bucket = ensure_bucket(client, f"it-{uuid.uuid4().hex[:12]}")
    assert ensure_bucket(client, bucket.name).name == bucket.name  # a second call is harmless

    local = tmp_path / "batch.jsonl"
    content = b'{"transaction_id": "a", "amount": 1.5}\n' * 1000
    local.write_bytes(content)
    address = upload_file(bucket, local, "transaction/batch.jsonl")

    assert address == f"gs://{bucket.name}/transaction/batch.jsonl"
    assert bucket.blob("transaction/batch.jsonl").download_as_bytes() == content
    listed = [blob.name for blob in client.list_blobs(bucket.name, prefix="transaction/")]
    assert listed == ["transaction/batch.jsonl"]


def test_rewriting_a_batch_replaces_it(stack: Stack) -> None:
    bucket = ensure_bucket(storage_client("fraudstream-tests"), f"it-{uuid.uuid4().hex[:12]}")
    name = BatchKey("non_fraud_transaction", 2, 100, 199).object_name(LakeFolder.TRANSACTIONS)
    first = to_ndjson([{"transaction_id": str(i)} for i in range(100)])
    write_object(bucket, name, first, "application/x-ndjson")
    write_object(bucket, name, first, "application/x-ndjson")  # a replay after a crash
    objects = list(bucket.client.list_blobs(bucket.name))
    assert [blob.name for blob in objects] == [name]
    assert bucket.blob(name).download_as_bytes().count(b"\n") == 100
