"""Kafka administration: topics created with explicit, durable settings."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic


def producer_config(bootstrap_servers: str) -> dict[str, object]:
    """Durable and fast: no write is acknowledged before two replicas have it,
    retries cannot duplicate or reorder (idempotence), and records travel in
    large compressed batches."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 50,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 262_144,
    }


class KafkaSetupError(RuntimeError):
    """A topic could not be created or the cluster could not be reached."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int

    @property
    def min_insync_replicas(self) -> int:
        # With acks=all, a write survives the loss of any one replica.
        return min(2, self.replication_factor)


def ensure_topics(
    bootstrap_servers: str, topics: list[TopicSpec], timeout: float = 30
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    requests = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config={"min.insync.replicas": str(spec.min_insync_replicas)},
        )
        for spec in topics
    ]
    created = []
    for name, future in admin.create_topics(requests, operation_timeout=timeout).items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaSetupError(
                    f"cannot create topic {name}: {error.args[0].str()}"
                ) from error
    return created
