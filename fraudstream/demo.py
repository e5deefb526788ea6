"""The local demo: set up everything the pipeline writes to, produce, then run both consumers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fraudstream import kafka, lake, registry
from fraudstream.batches import FOLDERS
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


def run_consumers(idle_exit: float, say: Say) -> int:
    """Both consumers, each a process of its own as in a deployment, until their
    topics have been quiet for ``idle_exit`` seconds; the worse exit code."""
    processes = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "fraudstream", "consume", kind, "--idle-exit", str(idle_exit)]
        )
        for kind in ("non-fraud", "fraud")
    }
    say(f"consumers running ({', '.join(processes)}); they stop after {idle_exit:g} s of quiet")
    codes = {kind: process.wait() for kind, process in processes.items()}
    for kind, code in codes.items():
        if code != 0:
            say(f"the {kind} consumer failed with exit code {code}; its log is above")
    return max(codes.values())


def report_lake(settings: Settings, say: Say) -> None:
    """What the lake holds now, folder by folder, and where to look next."""
    storage = lake.storage_client(settings.gcp_project)
    for folder in FOLDERS:
        blobs = list(storage.list_blobs(settings.lake_bucket, prefix=f"{folder}/"))
        size = sum(blob.size or 0 for blob in blobs)
        say(f"lake   gs://{settings.lake_bucket}/{folder}/: {len(blobs)} objects, {size:,} bytes")
    if mail_ui := os.environ.get("MAIL_API_URL"):
        say(f"emails: open {mail_ui} to read what the customers received")
    say(f"answers: run `make confirmation-service`, then click a link in a fraud email "
        f"(served at {settings.confirmation_base_url})")  # fmt: skip
