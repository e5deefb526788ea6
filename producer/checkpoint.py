"""Where a producer run has got to, kept in Kafka beside the records it covers.

A checkpoint record is written in the same Kafka transaction as the block of
records it describes, so the two become visible together or not at all: after
a crash, the last committed checkpoint says exactly which lines were produced.
The topic is compacted and keyed by source, so it keeps one record a source.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from confluent_kafka import Consumer, KafkaError, TopicPartition

from fraudstream.kafka import TopicSpec


@dataclass(frozen=True)
class Counts:
    good: int = 0
    fraud: int = 0
    non_fraud: int = 0
    rejected: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def astuple(counts: Counts) -> tuple[int, int, int, int]:
    return counts.good, counts.fraud, counts.non_fraud, counts.rejected


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
    """The last committed checkpoint of ``source``, or None if it has none."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers,
        "group.id": "fraudstream-checkpoint-reader",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })  # fmt: skip
    latest: Checkpoint | None = None
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        while True:
            message = consumer.poll(10)
            if message is None:
                raise TimeoutError(f"no answer from {topic} while reading checkpoints")
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return latest
                raise RuntimeError(f"cannot read checkpoints from {topic}: {error.str()}")
            value = message.value()
            if message.key() == source.encode() and value:
                latest = Checkpoint.from_bytes(value)
    finally:
        consumer.close()
