"""Provisioning: create what the topology declares (idempotent). The only place that does.

Locally ``fraudstream setup`` and the demo call it. In the cloud Terraform
creates the buckets, and the producer VM runs ``fraudstream setup
--no-buckets``, as Kafka's administrator, for the topics, the principals and
their ACLs, and the schemas, which live inside the private network Terraform
cannot reach.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fraudstream import kafka
from fraudstream.kafka import registry
from fraudstream.settings.config import ConfigError, Settings
from fraudstream.storage import case_table, lake
from fraudstream.topology import Grant, kafka_principals, topology

Say = Callable[[str], None]


def provision(settings: Settings, say: Say, buckets: bool = True, database: bool = True) -> None:
    """Create the topics, the Kafka principals and their ACLs (with KAFKA_PRINCIPALS_FILE),
    register the schemas, (with ``buckets``) create the buckets and (with ``database``)
    migrate the case table."""
    principals = principal_logins(settings)
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
    if principals:
        kafka.ensure_principals(settings.kafka_connection, principals)
    for name, (_password, grants) in principals.items():
        say(f"principal {name}: SCRAM credentials set, {len(grants)} ACL grants")
    client = registry.registry_client(
        settings.schema_registry_url, settings.schema_registry_login, settings.tls_ca_file
    )
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
    if database:
        migrate_cases(settings, say)


def migrate_cases(settings: Settings, say: Say) -> None:
    """Bring the case table to the newest migration."""
    engine = case_table.cases_engine(settings.cases_database_url.get_secret_value())
    try:
        revision = case_table.migrate(engine)
    finally:
        engine.dispose()
    say(f"table  fraud_cases at migration {revision} in {case_table.shown(engine)}")


def principal_logins(settings: Settings) -> dict[str, tuple[str, tuple[Grant, ...]]]:
    """Each service principal's password (from KAFKA_PRINCIPALS_FILE; none without one)
    and grants, checked before anything is made: a password for every declared
    principal, and no other."""
    path = settings.kafka_principals_file
    if path is None:
        return {}
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
    return {name: (passwords[name], grants) for name, grants in declared.items()}


def read_principals(path: Path) -> dict[str, str]:
    """NAME=password lines (blank lines and # comments skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"KAFKA_PRINCIPALS_FILE: cannot read {path}: {error.strerror}") from error
    entries = [line for line in lines if line.strip() and not line.startswith("#")]
    if any(not line.partition("=")[2].strip() for line in entries):
        raise ConfigError(f"KAFKA_PRINCIPALS_FILE {path}: every line must be NAME=password")
    return dict(line.strip().split("=", 1) for line in entries)
