"""The GCS emulator is real: the google-cloud-storage client stores and returns objects."""

from __future__ import annotations

import uuid
from pathlib import Path

from fraudstream.lake import ensure_bucket, storage_client, upload_file
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
