"""Kafka: topics created with explicit, durable settings, and the transactional producer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from fraudstream.config import Settings

# librdkafka's own log lines go through Python logging (and so come out structured).
CLIENT_LOG = logging.getLogger("fraudstream.kafka.client")


def client_config(bootstrap_servers: str) -> dict[str, Any]:
    """What every client of ours shares."""
    return {"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG}


def producer_config(bootstrap_servers: str) -> dict[str, Any]:
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


class KafkaSetupError(RuntimeError):
    """A topic could not be created or the cluster could not be reached."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)

    @property
    def min_insync_replicas(self) -> int:
        # With acks=all, a write survives the loss of any one replica.
        return min(2, self.replication_factor)


def ensure_pipeline_topics(settings: Settings, names: Iterable[str]) -> list[str]:
    """``ensure_topics`` for topics of the pipeline's shape: ``TOPIC_PARTITIONS``
    partitions, ``TOPIC_REPLICATION_FACTOR`` replicas."""
    specs = [
        TopicSpec(name, settings.topic_partitions, settings.topic_replication_factor)
        for name in names
    ]
    return ensure_topics(settings.kafka_bootstrap_servers, specs)


def ensure_topics(
    bootstrap_servers: str, topics: list[TopicSpec], timeout: float = 30
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now."""
    admin = AdminClient(client_config(bootstrap_servers))
    require_reachable(admin, bootstrap_servers)
    requests = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config={"min.insync.replicas": str(spec.min_insync_replicas), **spec.config},
        )
        for spec in topics
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
    _wait_until_usable(admin, topics, timeout)
    return created


def _wait_until_usable(admin: AdminClient, topics: list[TopicSpec], timeout: float) -> None:
    """Until every topic is in the metadata with a leader for each partition.

    A created topic reaches the brokers a moment later; until then a request
    about it can still answer "unknown topic".
    """
    deadline = time.monotonic() + timeout
    pending = {spec.name: spec.partitions for spec in topics}
    while pending:
        metadata = admin.list_topics(timeout=timeout).topics
        for name, partitions in list(pending.items()):
            if _has_leaders(metadata.get(name), partitions):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise KafkaSetupError(f"topics {sorted(pending)} had no leaders after {timeout} s")
        if pending:
            time.sleep(0.1)


def _has_leaders(topic: Any, partitions: int) -> bool:
    if topic is None or topic.error is not None or len(topic.partitions) < partitions:
        return False
    return all(partition.leader >= 0 for partition in topic.partitions.values())


def require_reachable(admin: AdminClient, bootstrap_servers: str, timeout: float = 15) -> None:
    """Fail fast, with one clear line, when no broker answers."""
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise KafkaSetupError(
            f"cannot reach Kafka at {bootstrap_servers} ({error.args[0].str()}); "
            "is KAFKA_BOOTSTRAP_SERVERS right and the cluster up?"
        ) from error


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge records: refused them, or not within the time allowed."""


def produce_and_wait(
    producer: Producer, messages: Iterable[dict[str, Any]], what: str, timeout: float = 30
) -> None:
    """Produce each message (keyword arguments of ``Producer.produce``) and wait until
    every one is acknowledged; DeliveryError, naming ``what``, if any is not."""
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error.str())

    for message in messages:
        producer.produce(**message, on_delivery=delivered)
    if producer.flush(timeout) > 0 or failures:
        raise DeliveryError(f"{what} not acknowledged: {'; '.join(failures) or 'timed out'}")


class TransactionAbortedError(RuntimeError):
    """The open transaction was aborted (a broker failed over, say): redo it from the start."""


class TransactionalProducer:
    """Produces records in Kafka transactions: ``begin()``, any number of ``send()``, ``commit()``.

    Readers with ``isolation.level=read_committed`` see a transaction whole or
    not at all. A producer restarted with the same transactional id fences the
    old one and aborts whatever it left open. Records of an aborted
    transaction are not kept here: the caller redoes it from its checkpoint.
    """

    COMMIT_ATTEMPTS = 5

    def __init__(self, bootstrap_servers: str, transactional_id: str) -> None:
        config = producer_config(bootstrap_servers)
        config.update({
            "transactional.id": transactional_id,
            "transaction.timeout.ms": 120_000,
            "partitioner": "murmur2_random",  # the Java client's choice: same key, same partition
        })  # fmt: skip
        self._producer = Producer(config)
        self._producer.init_transactions(60)

    def begin(self) -> None:
        self._producer.begin_transaction()

    def send(
        self, topics: Sequence[str], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        """Produce ``values[i]`` to ``topics[i]`` keyed by ``keys[i]``, in the open transaction."""
        produce = self._producer.produce
        try:
            for index, (topic, key, value) in enumerate(zip(topics, keys, values, strict=True)):
                try:
                    produce(topic, value, key)
                except BufferError:
                    self._produce_when_room(topic, key, value)
                if index % 10_000 == 0:
                    self._producer.poll(0)  # serve delivery reports so they do not pile up
        except KafkaException as error:
            self._abort_or_raise(error)

    def commit(self) -> None:
        """Make the open transaction visible; raises TransactionAbortedError or DeliveryError."""
        for attempt in range(1, self.COMMIT_ATTEMPTS + 1):
            try:
                self._producer.commit_transaction(60)
                return
            except KafkaException as error:
                if error.args[0].retriable() and attempt < self.COMMIT_ATTEMPTS:
                    time.sleep(min(2**attempt, 30))
                    continue
                self._abort_or_raise(error)

    def close(self) -> None:
        self._producer.flush(30)

    def _produce_when_room(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            self._producer.poll(0.1)  # the local queue is full: let it drain
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                continue

    def _abort_or_raise(self, error: KafkaException) -> None:
        kafka_error = error.args[0]
        if kafka_error.txn_requires_abort():
            self._producer.abort_transaction(60)
            raise TransactionAbortedError(kafka_error.str()) from error
        raise DeliveryError(f"Kafka refused the transaction: {kafka_error.str()}") from error
