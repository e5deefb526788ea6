"""Kafka: client settings, topics, and the operations the services share.

The adapter speaks confluent-kafka below and the project's errors above:
``KafkaUnavailableError`` for what a retry may mend, ``KafkaSetupError`` and
``MissingResourceError`` for what it will not, ``OwnershipLostError`` for a
commit of partitions that went to another member of the group.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic

from fraudstream.errors import (
    FraudstreamError,
    MissingResourceError,
    PermanentError,
    TransientError,
)
from fraudstream.topology import CHECKPOINT_READER_GROUP, Grant, Topic

log = logging.getLogger("fraudstream.kafka")


class _QuietRetries(logging.Filter):
    """librdkafka warns about conditions it retries by itself (a group coordinator still
    loading when the cluster has just started, say): those are DEBUG lines, not warnings."""

    SELF_HEALING = ("Coordinator load in progress", "Coordinator not available", "Not coordinator")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(
            text in record.getMessage() for text in self.SELF_HEALING
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


# librdkafka's own log lines go through Python logging (and so come out like ours).
CLIENT_LOG = logging.getLogger("fraudstream.kafka.client")
CLIENT_LOG.addFilter(_QuietRetries())

# Kafka reports a commit for partitions this member no longer owns with these.
_OWNERSHIP_LOST = {
    KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError._ASSIGNMENT_LOST,
}  # fmt: skip
# What a broker answers about a topic that was created but has not reached it yet.
_NOT_THERE_YET = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE}
# Message errors the client recovers from by itself.
_SELF_HEALING = {KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}
# The group coordinator moving (its broker stopped): a commit answered so is tried again,
# although librdkafka does not mark every one of these retriable on a synchronous commit.
_COORDINATOR_MOVING = {*_SELF_HEALING, KafkaError.NOT_COORDINATOR, KafkaError.REQUEST_TIMED_OUT}


class KafkaSetupError(PermanentError):
    """The cluster cannot be reached at start, or refused a topic."""


class KafkaUnavailableError(TransientError):
    """A broker, or the group coordinator, did not answer: try again."""


class DeliveryError(TransientError):
    """Kafka did not acknowledge records: refused them, or not within the time allowed."""


class OwnershipLostError(FraudstreamError):
    """The partition of the batch in hand went to another member: drop the batch."""


# Where the cluster is: a bootstrap list, or the client settings that also say
# who is asking (``Settings.kafka_connection``, with SASL credentials).
Connection = str | Mapping[str, str]

SCRAM_ITERATIONS = 8192
RESOURCE_TYPES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,
}


def client_config(bootstrap_servers: Connection) -> dict[str, Any]:
    """What every client of ours shares."""
    if isinstance(bootstrap_servers, str):
        return {"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG}
    return {**bootstrap_servers, "logger": CLIENT_LOG}


def servers_of(connection: Connection) -> str:
    """The bootstrap list alone, for messages (never the credentials)."""
    return connection if isinstance(connection, str) else connection["bootstrap.servers"]


def producer_config(bootstrap_servers: Connection) -> dict[str, Any]:
    """Durable and fast: no write is acknowledged before two replicas have it,
    retries cannot duplicate or reorder (idempotence), and records travel in
    large compressed batches."""
    return {
        **client_config(bootstrap_servers),
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 50,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 131_072,
    }


def consumer_config(bootstrap_servers: Connection, group: str) -> dict[str, Any]:
    """A member of ``group`` that sees committed transactions only and commits by hand."""
    return {
        **client_config(bootstrap_servers),
        "group.id": group,
        "client.id": f"{group}-{os.getpid()}",  # names the member in the brokers' logs
        "isolation.level": "read_committed",  # the producer writes in transactions
        "enable.auto.commit": False,  # committed by the caller, after its side effects
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "fetch.max.bytes": 16 * 1024 * 1024,
        "on_commit": report_failed_commit,  # the replies of commits not waited for
    }


def report_failed_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
    """Log a commit that did not store its offsets. Nothing is lost by one: the next commit
    of the partition covers it, and a member taking the partition over finds the batches
    past the committed offset in the lake (``consumers.recovery``)."""
    refused = [(tp, tp.error) for tp in partitions if tp.error is not None]
    if error is None and not refused:
        return
    reasons = [error.str()] if error is not None else [why.str() for _, why in refused]
    named = [tp for tp, _ in refused] or partitions
    log.warning("offset commit failed", extra={
        "reason": "; ".join(reasons),
        "partitions": [f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in named],
    })  # fmt: skip


# Topics ----------------------------------------------------------------------------------


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
        _settle(future, f"cannot set the SCRAM credentials of {name}")
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
        _settle(future, f"cannot create the ACLs of {binding.principal.removeprefix('User:')}")


def _settle(future: Any, what: str, timeout: float = 30) -> None:
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


# Producing -------------------------------------------------------------------------------


def produce_and_wait(
    producer: Producer, messages: Iterable[dict[str, Any]], what: str, timeout: float = 30
) -> None:
    """Produce each message (keyword arguments of ``Producer.produce``) and wait until
    every one is acknowledged; DeliveryError, naming ``what``, if any is not."""
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error.str())

    try:
        for message in messages:
            producer.produce(**message, on_delivery=delivered)
    except (KafkaException, BufferError) as error:
        raise DeliveryError(f"{what} not accepted by the client: {error}") from error
    if producer.flush(timeout) > 0 or failures:
        raise DeliveryError(f"{what} not acknowledged: {'; '.join(failures) or 'timed out'}")


# Consuming -------------------------------------------------------------------------------


def usable(message: Message) -> bool:
    """True for a record; False for an event the client recovers from (logged);
    ``KafkaSetupError`` for a fatal error of the client."""
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise KafkaSetupError(f"the Kafka client failed for good: {error.str()}")
    level = logging.DEBUG if error.code() in _SELF_HEALING else logging.WARNING
    log.log(level, "kafka", extra={"reason": error.str()})
    return False


def commit(
    consumer: Consumer, topic: str, partition: int, next_offset: int, *, wait: bool = True
) -> None:
    """Commit ``next_offset`` for one partition: synchronously, or (``wait=False``) sent
    without waiting for the reply, whose failure ``consumer_config``'s callback logs."""
    try:
        offsets = [TopicPartition(topic, partition, next_offset)]
        if wait:
            consumer.commit(offsets=offsets, asynchronous=False)
        else:
            consumer.commit(offsets=offsets, asynchronous=True)
    except KafkaException as error:
        kafka_error = error.args[0]
        if kafka_error.code() in _OWNERSHIP_LOST:
            raise OwnershipLostError(f"{topic}[{partition}]: {kafka_error.str()}") from error
        if kafka_error.retriable() or kafka_error.code() in _COORDINATOR_MOVING:
            raise KafkaUnavailableError(f"offset commit: {kafka_error.str()}") from error
        raise KafkaSetupError(f"Kafka refused the offset commit: {kafka_error.str()}") from error


def committed(consumer: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
    """The group's committed offsets of ``partitions``."""
    try:
        return list(consumer.committed(partitions, timeout=30))
    except KafkaException as error:
        raise KafkaUnavailableError(f"reading committed offsets: {error.args[0].str()}") from error


def read_last_value(
    bootstrap_servers: Connection, topic: str, key: bytes, timeout: float = 60
) -> bytes | None:
    """The last committed value of ``key`` in partition 0 of ``topic``, or None.

    Reads up to the partition's last stable offset as it is when asked (a
    read_committed offset query returns that), so a producer that keeps
    committing meanwhile cannot hold the read up.
    """
    partition = TopicPartition(topic, 0)
    try:
        end = _last_stable_offset(bootstrap_servers, partition)
        return _scan_for_key(bootstrap_servers, partition, key, end, timeout)
    except KafkaException as error:
        raise KafkaUnavailableError(f"cannot read {topic}: {error.args[0].str()}") from error
    except TimeoutError as error:
        raise KafkaUnavailableError(f"cannot read {topic}: no answer in time") from error


def _scan_for_key(
    bootstrap_servers: Connection, partition: TopicPartition, key: bytes, end: int, timeout: float
) -> bytes | None:
    consumer = Consumer(consumer_config(bootstrap_servers, CHECKPOINT_READER_GROUP))
    latest: bytes | None = None
    try:
        start, _ = consumer.get_watermark_offsets(partition, timeout=10)
        if end <= start:
            return None
        consumer.assign([TopicPartition(partition.topic, 0, start)])
        deadline = time.monotonic() + timeout
        # Transaction markers take offsets but are never delivered, hence the position check.
        while _position(consumer, partition) < end:
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"reading {partition.topic} took over {timeout} s")
            message = consumer.poll(0.2)
            if message is None or not usable(message):
                continue
            if message.key() == key and message.value():
                latest = message.value()
    finally:
        consumer.close()
    return latest


def _last_stable_offset(
    bootstrap_servers: Connection, partition: TopicPartition, timeout: float = 30
) -> int:
    """Where committed data ends now: records past it belong to transactions still open.

    A topic created a moment ago may not have reached every broker yet; the one
    asked then answers "unknown topic", which passes: asked again until ``timeout``.
    """
    admin = AdminClient(client_config(bootstrap_servers))
    deadline = time.monotonic() + timeout
    while True:
        futures = admin.list_offsets(
            {partition: OffsetSpec.latest()},  # type: ignore[no-untyped-call]
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=10,
        )
        try:
            return int(futures[partition].result(15).offset)
        except KafkaException as error:
            passing = error.args[0].retriable() or error.args[0].code() in _NOT_THERE_YET
            if not passing or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _position(consumer: Consumer, partition: TopicPartition) -> int:
    offset = consumer.position([partition])[0].offset
    return int(offset) if offset >= 0 else -1
