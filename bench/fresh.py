"""Settings of topics, groups and a lake of their own for one benchmark run, provisioned."""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka.admin import AdminClient

from fraudstream.config import Settings, load_settings
from fraudstream.kafka import client_config
from wiring.provision import provision


def fresh_settings(**overrides: Any) -> Settings:
    """Every topic, group and bucket named afresh, then created as ``fraudstream setup`` would."""
    settings = named_settings(uuid.uuid4().hex[:8], **overrides)
    provision(settings, say=lambda _line: None)
    return settings


def discard_bench_topics() -> None:
    """Delete every topic a benchmark run made (their names start with ``bench-``).

    Each run makes topics of its own; a cluster that kept them all would slow
    down from one run to the next (three brokers sharing two cores with over a
    thousand partitions), and the benchmarks would measure that."""
    settings = load_settings()
    admin = AdminClient(client_config(settings.kafka_connection))
    names = [name for name in admin.list_topics(timeout=30).topics if name.startswith("bench-")]
    if names:
        for future in admin.delete_topics(names, operation_timeout=60).values():
            future.result()


def named_settings(suffix: str, **overrides: Any) -> Settings:
    """The settings of the benchmark run named ``suffix`` (for its child processes)."""
    return load_settings(**{
        "fraud_topic": f"bench-fraud-{suffix}", "non_fraud_topic": f"bench-normal-{suffix}",
        "rejected_topic": f"bench-rejected-{suffix}",
        "checkpoint_topic": f"bench-checkpoints-{suffix}",
        "confirmation_topic": f"bench-answers-{suffix}",
        "dead_letter_topic": f"bench-dead-{suffix}",
        "lake_bucket": f"bench-lake-{suffix}", "dataset_bucket": f"bench-dataset-{suffix}",
        "non_fraud_consumer_group": f"bench-notifier-{suffix}",
        "fraud_consumer_group": f"bench-confirmer-{suffix}",
        "customer_email_domain": f"bench-{suffix}.example", **overrides,
    })  # fmt: skip
