"""The steps that finish a batch, each with its client passed in, each retrying its own outage.

The loop runs them in this order: emails, dead letters, the email log, the
records, the commit. Each returns only when its side effect is durable, so a
crash between two steps leaves the later ones to a redo, never a gap:

- ``DeadLetters``: at least once (produced and acknowledged before the commit);
- ``CustomerEmails``: at least once, deduplicated by the email log of a redo;
- ``LakeWriter``: effectively once (an object named by its offsets is overwritten, not doubled);
- ``commits.Committer``: offsets move only after everything above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import Message, Producer
from google.cloud import storage

from fraudstream import kafka
from fraudstream.consumers.email_sending import EmailJob, Mailer, refused_entry, sent_before_entry
from fraudstream.consumers.handlers import Handler
from fraudstream.consumers.retry import Waiter, until_done
from fraudstream.emails.addresses import AddressError
from fraudstream.errors import TransientError
from fraudstream.storage import lake
from fraudstream.storage.batches import ndjson_line

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
            {
                "topic": self.topic,
                "value": letter.message.value(),
                "key": letter.message.key(),
                "headers": self._headers(letter),
            }
            for letter in dead
        )
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


@dataclass
class EmailOutcome:
    """An email-log entry for each record that has one, in order; and the records the
    handler could not make an email of (their index and why), for the dead letters."""

    entries: list[LogEntry] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    already_sent: int = 0  # entries the email log of a redo had
    new_entries: list[LogEntry] = field(default_factory=list)  # tried or refused now


class CustomerEmails:
    """Each record's email, unless the email log of a redo shows it as sent already.

    One outcome per record: sent, rejected (by the server, or before sending
    when its address cannot be sent to), logged before, or failed (the
    handler raised: the record goes to the dead letters). One bad record
    never stops the batch.
    """

    def __init__(self, mailer: Mailer, handler: Handler, waiter: Waiter) -> None:
        self.mailer, self.handler, self.waiter = mailer, handler, waiter

    def send(
        self,
        partition: Partition,
        records: Sequence[dict[str, Any]],
        offsets: Sequence[int],
        already_sent: dict[str, LogEntry],
        finished: Callable[[LogEntry], None] = lambda entry: None,
    ) -> EmailOutcome:
        """Each record's outcome; ``finished`` is called with each new entry as it is made."""
        outcome = EmailOutcome()
        # Per record with an outcome, in order: its entry, or None for "the next one sent".
        slots: list[LogEntry | None] = []

        def jobs() -> Iterator[EmailJob]:
            for index, (record, offset) in enumerate(zip(records, offsets, strict=True)):
                source = {"topic": partition[0], "partition": partition[1], "offset": offset}
                try:
                    job = self._job(record, source, already_sent)
                except AddressError as error:
                    address = str(record.get("customer_email"))
                    refused = refused_entry(
                        record["transaction_id"], self.handler.template, address, str(error), source
                    )
                    slots.append(refused)
                    outcome.new_entries.append(refused)
                    finished(refused)
                    continue
                except Exception as error:  # any handler failure: a dead letter
                    outcome.failed.append((index, f"{type(error).__name__}: {error}"))
                    continue
                if job is None:
                    outcome.already_sent += 1
                    slots.append(already_sent[record["transaction_id"]])
                else:
                    slots.append(None)
                    yield job

        sent = iter(self.mailer.deliver(jobs(), self.waiter, finished))
        outcome.entries = [next(sent) if slot is None else slot for slot in slots]
        outcome.new_entries += [
            entry for slot, entry in zip(slots, outcome.entries, strict=True) if slot is None
        ]
        return outcome

    def _job(
        self, record: dict[str, Any], source: dict[str, Any], already_sent: dict[str, LogEntry]
    ) -> EmailJob | None:
        if record["transaction_id"] in already_sent:
            return None
        return self.handler.email(record, source)


class EmailLogDraft:
    """The email log of the slice in hand: what came before it in the lake batch, then
    each entry as its email is done. Turned into lines only if the partition is revoked
    meanwhile (``BatchInHand.settle``), so that its next owner sends none of these again
    and keeps their entries; a slice does not serialize the lake batch's log again."""

    def __init__(self, before: Callable[[], list[LogEntry]]) -> None:
        self._before, self.entries = before, list[LogEntry]()

    def add(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    def lines(self) -> list[bytes]:
        return [ndjson_line(entry) for entry in [*self._before(), *self.entries]]


def sent_before(
    template: str,
    partition: Partition,
    decoded: tuple[Sequence[dict[str, Any]], Sequence[int]],
    through: int | None,
    logged: dict[str, LogEntry],
) -> dict[str, LogEntry]:
    """``logged``, with an entry for each record up to offset ``through`` that it lacks:
    an earlier owner of the partition emailed it (its commit said so) but did not live to
    log it, so its details are lost."""
    if through is None:
        return logged
    entries = dict(logged)
    for record, offset in zip(*decoded, strict=True):
        tid = record.get("transaction_id")
        if offset <= through and isinstance(tid, str) and tid not in entries:
            source = {"topic": partition[0], "partition": partition[1], "offset": offset}
            entries[tid] = sent_before_entry(tid, template, source)
    return entries


def lake_lines(
    handler: Handler, records: Sequence[dict[str, Any]], skip: set[int]
) -> tuple[list[bytes], list[tuple[int, str]]]:
    """The NDJSON line of each record's lake record (``skip`` left out); and the records the
    handler or JSON could not take (their index and why), for the dead letters."""
    lines, failed = [], []
    for index, record in enumerate(records):
        if index in skip:
            continue
        try:
            lines.append(ndjson_line(handler.lake_record(record)))
        except Exception as error:  # any handler failure: a dead letter
            failed.append((index, f"{type(error).__name__}: {error}"))
    return lines, failed


class LakeWriter:
    """One NDJSON object per batch and folder, retried while GCS is out."""

    def __init__(self, bucket: storage.Bucket, waiter: Waiter) -> None:
        self.bucket, self.waiter = bucket, waiter

    def write(self, name: str, lines: Sequence[bytes]) -> None:
        data = b"".join(lines)
        write = partial(lake.write_object, self.bucket, name, data, "application/x-ndjson")
        until_done(write, "lake write", self.waiter, (lake.StorageUnavailableError,))


@dataclass
class BatchInHand:
    """The batch being finished: its partition's assignment when it was taken, and what
    of it may still be on its way to the lake."""

    partition: Partition
    assignment: int | None
    email_log: str  # the batch's email-log object
    draft: EmailLogDraft | None = None  # its emails so far, once they are being sent
    upload: Future[None] | None = None  # the last object handed to the uploader

    def settle(self, uploads: LakeWriter) -> None:
        """What of the batch went out reaches the lake now: the upload under way ends (the
        email log is written already, or this is it), or else the emails sent so far are
        logged."""
        if self.upload is not None:
            wait([self.upload])
        elif self.draft is not None and (lines := self.draft.lines()):
            uploads.write(self.email_log, lines)
