"""The local demo: set up everything the pipeline writes to, then run what exists of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fraudstream import kafka, lake, registry
from fraudstream.config import Settings
from fraudstream.generator import write_csv

Say = Callable[[str], None]


def provision(settings: Settings, say: Say) -> None:
    """Create the topics, register the record schema and create the buckets (idempotent)."""
    topics = [
        kafka.TopicSpec(name, settings.topic_partitions, settings.topic_replication_factor)
        for name in (settings.fraud_topic, settings.non_fraud_topic)
    ]
    created = kafka.ensure_topics(settings.kafka_bootstrap_servers, topics)
    for spec in topics:
        if spec.name in created:
            say(
                f"topic  {spec.name} created: {spec.partitions} partitions, replication "
                f"{spec.replication_factor}, min.insync.replicas {spec.min_insync_replicas}"
            )
        else:
            say(f"topic  {spec.name} exists")
    client = registry.registry_client(settings.schema_registry_url)
    schema = registry.load_schema("transaction")
    for spec in topics:
        schema_id = registry.register_value_schema(client, spec.name, schema)
        say(f"schema {spec.name}-value registered: id {schema_id}, BACKWARD compatible")
    storage = lake.storage_client(settings.gcp_project)
    for name in (settings.dataset_bucket, settings.lake_bucket):
        lake.ensure_bucket(storage, name)
        say(f"bucket gs://{name}")


def upload_dataset(settings: Settings, csv_path: Path, say: Say) -> str:
    """Put a PaySim CSV into the dataset bucket, where the producer reads it from."""
    storage = lake.storage_client(settings.gcp_project)
    bucket = lake.ensure_bucket(storage, settings.dataset_bucket)
    address = lake.upload_file(bucket, csv_path, f"paysim/{csv_path.name}")
    say(f"uploaded {csv_path} ({csv_path.stat().st_size:,} bytes) to {address}")
    return address


def generated_csv(rows: int, say: Say, directory: Path = Path("build/demo")) -> Path:
    """A PaySim-like CSV of ``rows`` rows, generated once and then reused."""
    path = directory / f"paysim-generated-{rows}.csv"
    if not path.is_file():
        write_csv(path, rows=rows, seed=1)
        say(f"generated {rows:,} PaySim-like rows into {path}")
    return path
