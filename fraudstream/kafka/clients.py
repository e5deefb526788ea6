"""What every client of ours is configured with: where the cluster is, who asks,
how producers and consumers behave, and where librdkafka's own log lines go."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

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


# Where the cluster is: a bootstrap list, or the client settings that also say
# who is asking (``Settings.kafka_connection``, with SASL credentials).
Connection = str | Mapping[str, str]
CommitCallback = Callable[[KafkaError | None, list[TopicPartition]], None]


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


def consumer_config(
    bootstrap_servers: Connection, group: str, on_commit: CommitCallback | None = None
) -> dict[str, Any]:
    """A member of ``group`` that sees committed transactions only and commits by hand;
    ``on_commit`` hears the replies to its commits not waited for (default: a refusal is
    logged)."""
    return {
        **client_config(bootstrap_servers),
        "group.id": group,
        "client.id": f"{group}-{os.getpid()}",  # names the member in the brokers' logs
        "isolation.level": "read_committed",  # the producer writes in transactions
        "enable.auto.commit": False,  # committed by the caller, after its side effects
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "fetch.max.bytes": 16 * 1024 * 1024,
        "on_commit": on_commit or report_failed_commit,
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
    log.warning(
        "offset commit failed",
        extra={
            "reason": "; ".join(reasons),
            "partitions": [f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in named],
        },
    )


class CommitReplies:
    """A consumer's ``on_commit``: Kafka's reply to each commit sent without blocking.

    A refusal is logged and kept, for the caller to send again (librdkafka does
    not: a partition that gets no new record would keep its last batch
    uncommitted, and its lag above zero, for good). Each partition's last reply
    is kept too, for a caller that waits for it while it goes on polling
    (``kafka.commit_serving``).
    """

    def __init__(self) -> None:
        self._refused: dict[tuple[str, int], int] = {}
        self._last: dict[tuple[str, int], tuple[int, KafkaError | None]] = {}

    def __call__(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        report_failed_commit(error, partitions)
        for tp in partitions:
            refusal = error or tp.error
            if refusal is not None:
                self._refused[(tp.topic, tp.partition)] = tp.offset
            self._last[(tp.topic, tp.partition)] = (tp.offset, refusal)

    def expect(self, partition: tuple[str, int]) -> None:
        """A commit to ``partition`` is about to be sent: forget the replies before it."""
        self._last.pop(partition, None)

    def reply_to(self, partition: tuple[str, int], offset: int) -> tuple[bool, KafkaError | None]:
        """Whether the commit of ``offset`` to ``partition`` was answered, and its refusal
        if it was refused."""
        last = self._last.get(partition)
        if last is None or last[0] != offset:
            return False, None
        del self._last[partition]
        return True, last[1]

    def take_refused(self) -> dict[tuple[str, int], int]:
        """The offsets refused since the last call, by partition."""
        refused, self._refused = self._refused, {}
        return refused
