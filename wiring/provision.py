"""Provisioning: create what the topology declares (idempotent). The only place that does.

Locally ``fraudstream setup`` and the demo call it; in the cloud Terraform
creates the buckets, and each pipeline VM's boot runs ``fraudstream setup
--no-buckets`` for the topics and schemas, which live inside the private
network Terraform cannot reach.
"""

from __future__ import annotations

from collections.abc import Callable

from fraudstream import kafka, lake, registry
from fraudstream.config import Settings
from fraudstream.topology import topology

Say = Callable[[str], None]


def provision(settings: Settings, say: Say, buckets: bool = True) -> None:
    """Create the topics, register the schemas and (with ``buckets``) create the buckets."""
    declared = topology(settings)
    created = kafka.ensure_topics(settings.kafka_bootstrap_servers, declared.topics)
    for topic in declared.topics:
        if topic.name in created:
            say(
                f"topic  {topic.name} created: {topic.partitions} partitions, replication "
                f"{topic.replication_factor}, min.insync.replicas {topic.min_insync_replicas}"
            )
        else:
            say(f"topic  {topic.name} exists")
    client = registry.registry_client(settings.schema_registry_url)
    for topic in declared.topics:
        if topic.schema is not None:
            schema = registry.load_schema(topic.schema)
            schema_id = registry.register_value_schema(client, topic.subject, schema)
            say(f"schema {topic.subject} registered: id {schema_id}, BACKWARD compatible")
    if buckets:
        storage = lake.storage_client(settings.gcp_project)
        for name in declared.buckets:
            lake.ensure_bucket(storage, name)
            say(f"bucket gs://{name}")
