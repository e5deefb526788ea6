"""Where a producer run has got to, kept in Kafka beside the records it covers.

A checkpoint record is written in the same Kafka transaction as the block of
records it describes, so the two become visible together or not at all: after
a crash, the last committed checkpoint says exactly which lines were produced.
The topic is compacted and keyed by source, so it keeps one record a source.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, astuple, dataclass, field, replace

from confluent_kafka import Consumer, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from fraudstream.kafka import TopicSpec

READ_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Counts:
    good: int = 0
    fraud: int = 0
    non_fraud: int = 0
    rejected: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def __sub__(self, other: Counts) -> Counts:
        return Counts(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class Checkpoint:
    """Lines before ``next_line`` are produced; reading resumes at the block at ``offset``."""

    source: str
    size: int
    offset: int
    first_line: int
    next_line: int
    complete: bool = False
    counts: Counts = field(default_factory=Counts)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        fields = json.loads(data)
        return cls(**{**fields, "counts": Counts(**fields["counts"])})

    def advanced(self, offset: int, first_line: int, next_line: int, counts: Counts) -> Checkpoint:
        return replace(
            self, offset=offset, first_line=first_line, next_line=next_line,
            counts=self.counts + counts,
        )  # fmt: skip


def checkpoint_topic_spec(name: str, replication_factor: int) -> TopicSpec:
    return TopicSpec(name, 1, replication_factor, config={"cleanup.policy": "compact"})


def load_checkpoint(bootstrap_servers: str, topic: str, source: str) -> Checkpoint | None:
    """The last committed checkpoint of ``source``, or None if it has none.

    Reads up to the partition's last stable offset as it is when asked (a
    read_committed offset query returns that), so a producer that keeps
    committing meanwhile, for this source or another, cannot hold it up.
    """
    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers,
        "group.id": "fraudstream-checkpoint-reader",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
    })  # fmt: skip
    partition = TopicPartition(topic, 0)
    end = _last_stable_offset(bootstrap_servers, partition)
    latest: Checkpoint | None = None
    try:
        start, _ = consumer.get_watermark_offsets(partition, timeout=10)
        if end <= start:
            return None
        consumer.assign([TopicPartition(topic, 0, start)])
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        # Transaction markers take offsets but are never delivered, hence the position check.
        while _position(consumer, partition) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading checkpoints from {topic} took too long")
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                raise RuntimeError(f"cannot read checkpoints from {topic}: {error.str()}")
            value = message.value()
            if message.key() == source.encode() and value:
                latest = Checkpoint.from_bytes(value)
    finally:
        consumer.close()
    return latest


def _last_stable_offset(bootstrap_servers: str, partition: TopicPartition) -> int:
    """Where committed data ends now: records past it belong to transactions still open."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.list_offsets(
        {partition: OffsetSpec.latest()},  # type: ignore[no-untyped-call]
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=10,
    )
    return int(futures[partition].result(15).offset)


def _position(consumer: Consumer, partition: TopicPartition) -> int:
    offset = consumer.position([partition])[0].offset
    return int(offset) if offset >= 0 else -1
