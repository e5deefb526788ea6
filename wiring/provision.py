"""Provisioning: create what the topology declares (idempotent). The only place that does.

Locally ``fraudstream setup`` and the demo call it; in the cloud Terraform
creates the buckets, and each pipeline VM's boot runs ``fraudstream setup
--no-buckets`` for the topics and schemas, which live inside the private
network Terraform cannot reach.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fraudstream import kafka, lake, registry
from fraudstream.config import ConfigError, Settings
from fraudstream.topology import kafka_principals, topology

Say = Callable[[str], None]


def provision(settings: Settings, say: Say, buckets: bool = True) -> None:
    """Create the topics, register the schemas and (with ``buckets``) create the buckets."""
    declared = topology(settings)
    created = kafka.ensure_topics(settings.kafka_connection, declared.topics)
    for topic in declared.topics:
        if topic.name in created:
            say(
                f"topic  {topic.name} created: {topic.partitions} partitions, replication "
                f"{topic.replication_factor}, min.insync.replicas {topic.min_insync_replicas}"
            )
        else:
            say(f"topic  {topic.name} exists")
    if settings.kafka_principals_file is not None:
        _provision_principals(settings, settings.kafka_principals_file, say)
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


def _provision_principals(settings: Settings, path: Path, say: Say) -> None:
    """Every service's SCRAM credentials and ACLs, from ``path``'s NAME=password lines."""
    passwords = read_principals(path)
    declared = kafka_principals(settings)
    missing = sorted(set(declared) - set(passwords))
    unknown = sorted(set(passwords) - set(declared))
    if missing or unknown:
        raise ConfigError(
            f"KAFKA_PRINCIPALS_FILE {path}: needs a password for each of {', '.join(declared)}"
            + (f"; none for {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    for name, grants in declared.items():
        kafka.ensure_principal(settings.kafka_connection, name, passwords[name], grants)
        say(f"principal {name}: SCRAM credentials set, {len(grants)} ACL grants")


def read_principals(path: Path) -> dict[str, str]:
    """NAME=password lines (blank lines and # comments skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"KAFKA_PRINCIPALS_FILE: cannot read {path}: {error.strerror}") from error
    entries = [line for line in lines if line.strip() and not line.startswith("#")]
    if any("=" not in line for line in entries):
        raise ConfigError(f"KAFKA_PRINCIPALS_FILE {path}: every line must be NAME=password")
    return dict(line.strip().split("=", 1) for line in entries)
