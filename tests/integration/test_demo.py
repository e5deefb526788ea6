"""The demo's set-up step against the real stack: idempotent, and everything exists after it."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient

from fraudstream import demo, lake, registry
from fraudstream.config import Settings
from tests.integration.conftest import Stack


def test_provision_twice_then_upload(settings: Settings, stack: Stack, paysim_sample: Path) -> None:
    said: list[str] = []
    demo.provision(settings, say=said.append)
    demo.provision(settings, say=said.append)
    assert sum("created" in line for line in said) == 2
    assert sum("exists" in line for line in said) == 2

    topics = AdminClient({"bootstrap.servers": stack.bootstrap_servers}).list_topics(timeout=10)
    assert len(topics.topics[settings.fraud_topic].partitions) == 3
    client = registry.registry_client(settings.schema_registry_url)
    assert f"{settings.non_fraud_topic}-value" in client.get_subjects()

    address = demo.upload_dataset(settings, paysim_sample, say=said.append)
    storage = lake.storage_client(settings.gcp_project)
    blob = storage.bucket(settings.dataset_bucket).blob(f"paysim/{paysim_sample.name}")
    assert address.endswith(paysim_sample.name)
    assert blob.download_as_bytes() == paysim_sample.read_bytes()
