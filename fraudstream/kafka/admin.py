"""The cluster's shape: topics made and checked, principals and their ACLs, reachability."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from fraudstream.errors import MissingResourceError
from fraudstream.kafka.clients import Connection, client_config, servers_of
from fraudstream.kafka.errors import KafkaSetupError
from fraudstream.topology import Grant, Topic

log = logging.getLogger("fraudstream.kafka")

SCRAM_ITERATIONS = 8192
RESOURCE_TYPES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,
}


def ensure_topics(
    bootstrap_servers: Connection, topics: Sequence[Topic], timeout: float = 30
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now."""
    admin = AdminClient(client_config(bootstrap_servers))
    require_reachable(admin, bootstrap_servers)
    requests = [
        NewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=topic.replication_factor,
            config={"min.insync.replicas": str(topic.min_insync_replicas), **topic.config},
        )
        for topic in topics
    ]
    created = []
    for name, future in admin.create_topics(requests, operation_timeout=timeout).items():
        try:
            future.result(timeout)
            created.append(name)
        except TimeoutError as error:
            raise KafkaSetupError(f"creating topic {name} timed out after {timeout} s") from error
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaSetupError(
                    f"cannot create topic {name}: {error.args[0].str()}"
                ) from error
    _wait_until_usable(admin, {topic.name: topic.partitions for topic in topics}, timeout)
    return created


# Principals ------------------------------------------------------------------------------


def ensure_principals(
    bootstrap_servers: Connection, principals: Mapping[str, tuple[str, Sequence[Grant]]]
) -> None:
    """Set each principal's SCRAM-SHA-512 password and allow it its grants, as an
    administrator (``principals``: name -> (password, grants)). Idempotent: an ACL
    that exists is left as it is."""
    admin = AdminClient(client_config(bootstrap_servers))
    require_reachable(admin, bootstrap_servers)
    mechanism = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    credentials: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(name, mechanism, password.encode())
        for name, (password, _grants) in principals.items()
    ]
    for name, future in admin.alter_user_scram_credentials(credentials).items():
        _wait_for(future, f"cannot set the SCRAM credentials of {name}")
    bindings = [
        AclBinding(
            RESOURCE_TYPES[grant.resource],
            grant.name,
            ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL,
            f"User:{name}",
            "*",
            AclOperation[operation],
            AclPermissionType.ALLOW,
        )
        for name, (_password, grants) in principals.items()
        for grant in grants
        for operation in grant.operations
    ]
    for binding, future in admin.create_acls(bindings).items():
        _wait_for(future, f"cannot create the ACLs of {binding.principal.removeprefix('User:')}")


def _wait_for(future: Any, what: str, timeout: float = 30) -> None:
    try:
        future.result(timeout)
    except (KafkaException, TimeoutError) as error:
        detail = error.args[0].str() if isinstance(error, KafkaException) else "timed out"
        raise KafkaSetupError(f"{what}: {detail}") from error


def require_topics(
    bootstrap_servers: Connection, names: Sequence[str], timeout: float = 30
) -> None:
    """Return once every topic exists with a leader for each partition;
    ``MissingResourceError`` naming the first that does not exist."""
    admin = AdminClient(client_config(bootstrap_servers))
    metadata = require_reachable(admin, bootstrap_servers)
    for name in names:
        if name not in metadata:
            raise MissingResourceError(f"Kafka topic {name}")
    _wait_until_usable(admin, {name: len(metadata[name].partitions) for name in names}, timeout)


def _wait_until_usable(admin: AdminClient, partitions: dict[str, int], timeout: float) -> None:
    """Until every topic is in the metadata with a leader for each partition.

    A created topic reaches the brokers a moment later; until then a request
    about it can still answer "unknown topic".
    """
    deadline = time.monotonic() + timeout
    pending = dict(partitions)
    while pending:
        metadata = admin.list_topics(timeout=timeout).topics
        for name, count in list(pending.items()):
            if _has_leaders(metadata.get(name), count):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise KafkaSetupError(f"topics {sorted(pending)} had no leaders after {timeout} s")
        if pending:
            time.sleep(0.1)


def _has_leaders(topic: Any, partitions: int) -> bool:
    if topic is None or topic.error is not None or len(topic.partitions) < partitions:
        return False
    return all(partition.leader >= 0 for partition in topic.partitions.values())


def require_reachable(
    admin: AdminClient, bootstrap_servers: Connection, timeout: float = 15
) -> dict[str, Any]:
    """The cluster's topics; fail fast, with one clear line, when no broker answers."""
    try:
        return dict(admin.list_topics(timeout=timeout).topics)
    except KafkaException as error:
        user = (
            None if isinstance(bootstrap_servers, str) else bootstrap_servers.get("sasl.username")
        )
        password = "" if user is None else f", and KAFKA_PASSWORD the password of {user}"
        raise KafkaSetupError(
            f"cannot reach Kafka at {servers_of(bootstrap_servers)} ({error.args[0].str()}); "
            f"is KAFKA_BOOTSTRAP_SERVERS right and the cluster up{password}?"
        ) from error
