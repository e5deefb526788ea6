"""The steps that finish a batch, each with its client passed in, each retrying its own outage.

The loop runs them in this order: dead letters, emails, the email log, the
records, the commit. Each returns only when its side effect is durable, so a
crash between two steps leaves the later ones to a redo, never a gap:

- ``DeadLetters``: at least once (produced and acknowledged before the commit);
- ``CustomerEmails``: at least once, deduplicated by the email log of a redo;
- ``LakeWriter``: effectively once (an object named by its offsets is overwritten, not doubled);
- ``Committer``: offsets move only after everything above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Message, Producer
from google.cloud import storage

from consumers.handlers import Handler
from consumers.mailer import Mailer
from consumers.retry import Waiter, until_done
from fraudstream import kafka, lake
from fraudstream.batches import to_ndjson
from fraudstream.errors import TransientError

Partition = tuple[str, int]
LogEntry = dict[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    reason: str


class DeadLetters:
    """Undecodable messages go, as they came, to the dead-letter topic, the reason in headers."""

    def __init__(self, producer: Producer, topic: str, group: str, waiter: Waiter) -> None:
        self.producer, self.topic, self.group, self.waiter = producer, topic, group, waiter

    def send(self, dead: Sequence[DeadLetter]) -> None:
        if dead:
            until_done(partial(self._produce, dead), "dead letters", self.waiter, (TransientError,))

    def _produce(self, dead: Sequence[DeadLetter]) -> None:
        letters = (
            {"topic": self.topic, "value": letter.message.value(), "key": letter.message.key(),
             "headers": self._headers(letter)}
            for letter in dead
        )  # fmt: skip
        kafka.produce_and_wait(self.producer, letters, "dead letters")

    def _headers(self, letter: DeadLetter) -> list[tuple[str, bytes]]:
        message = letter.message
        return [
            ("error", letter.reason.encode()),
            ("source.topic", str(message.topic()).encode()),
            ("source.partition", str(message.partition()).encode()),
            ("source.offset", str(message.offset()).encode()),
            ("consumer.group", self.group.encode()),
        ]


class CustomerEmails:
    """Each record's email, unless the email log of a redo shows it as sent already."""

    def __init__(self, mailer: Mailer, handler: Handler, waiter: Waiter) -> None:
        self.mailer, self.handler, self.waiter = mailer, handler, waiter

    def send(
        self,
        partition: Partition,
        records: Sequence[dict[str, Any]],
        offsets: Sequence[int],
        already_sent: dict[str, LogEntry],
    ) -> list[LogEntry]:
        """The email-log entry of every record, in order: new ones, or those logged before."""
        topic, number = partition
        jobs = (
            self.handler.email(record, {"topic": topic, "partition": number, "offset": offset})
            for record, offset in zip(records, offsets, strict=True)
            if record["transaction_id"] not in already_sent
        )
        sent = {entry["transaction_id"]: entry for entry in self.mailer.deliver(jobs, self.waiter)}
        return [sent.get(r["transaction_id"]) or already_sent[r["transaction_id"]] for r in records]


class LakeWriter:
    """One NDJSON object per batch and folder, retried while GCS is out."""

    def __init__(self, bucket: storage.Bucket, waiter: Waiter) -> None:
        self.bucket, self.waiter = bucket, waiter

    def write(self, name: str, records: Sequence[dict[str, Any]]) -> None:
        data = to_ndjson(records)
        write = partial(lake.write_object, self.bucket, name, data, "application/x-ndjson")
        until_done(write, "lake write", self.waiter, (lake.StorageUnavailableError,))


class Committer:
    """Commits a partition's next offset; ``OwnershipLostError`` if it moved to another member."""

    def __init__(self, consumer: Consumer, waiter: Waiter) -> None:
        self.consumer, self.waiter = consumer, waiter

    def commit(self, partition: Partition, next_offset: int) -> None:
        commit = partial(kafka.commit, self.consumer, partition[0], partition[1], next_offset)
        until_done(commit, "offset commit", self.waiter, (kafka.KafkaUnavailableError,))
