"""The demo's set-up step against the real stack: idempotent, and everything exists after it."""

from __future__ import annotations

import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from fraudstream import demo, lake, registry
from fraudstream.config import load_settings
from tests.integration.conftest import Stack


def test_provision_twice_then_upload(stack: Stack, paysim_sample: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        fraud_topic=f"it-fraud-{suffix}",
        non_fraud_topic=f"it-nonfraud-{suffix}",
        dataset_bucket=f"it-dataset-{suffix}",
        lake_bucket=f"it-lake-{suffix}",
        topic_partitions=2,
        topic_replication_factor=min(3, stack.broker_count),
    )
    said: list[str] = []
    demo.provision(settings, say=said.append)
    demo.provision(settings, say=said.append)
    assert sum("created" in line for line in said) == 2
    assert sum("exists" in line for line in said) == 2

    topics = AdminClient({"bootstrap.servers": stack.bootstrap_servers}).list_topics(timeout=10)
    assert len(topics.topics[settings.fraud_topic].partitions) == 2
    client = registry.registry_client(settings.schema_registry_url)
    assert f"{settings.non_fraud_topic}-value" in client.get_subjects()

    address = demo.upload_dataset(settings, paysim_sample, say=said.append)
    storage = lake.storage_client(settings.gcp_project)
    blob = storage.bucket(settings.dataset_bucket).blob(f"paysim/{paysim_sample.name}")
    assert address.endswith(paysim_sample.name)
    assert blob.download_as_bytes() == paysim_sample.read_bytes()
