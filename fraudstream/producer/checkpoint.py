"""Where a producer run has got to, kept in Kafka beside the records it covers.

A checkpoint record is written in the same Kafka transaction as the block of
records it describes, so the two become visible together or not at all: after
a crash, the last committed checkpoint says exactly which lines were produced.
The topic is compacted and keyed by source, so it keeps one record a source.
"""

from __future__ import annotations

import json
from dataclasses import asdict, astuple, dataclass, field, replace

from fraudstream import kafka


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
            self,
            offset=offset,
            first_line=first_line,
            next_line=next_line,
            counts=self.counts + counts,
        )


def load_checkpoint(
    bootstrap_servers: kafka.Connection, topic: str, source: str
) -> Checkpoint | None:
    """The last committed checkpoint of ``source``, or None if it has none."""
    value = kafka.read_last_value(bootstrap_servers, topic, source.encode())
    return None if value is None else Checkpoint.from_bytes(value)
