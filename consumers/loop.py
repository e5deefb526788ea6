"""The consumer loop: read_committed batches -> emails -> lake objects -> offset commit.

Records are buffered per partition and handled as a batch when the batch
holds BATCH_MAX_RECORDS or its oldest record has waited BATCH_MAX_SECONDS.
A batch is finished in this order, so a crash between any two steps leaves
nothing lost and, once redone, nothing doubled:

1. undecodable messages go to the dead-letter topic (error in the headers);
2. the emails are sent (see ``mailer``), skipping those the lake's email log
   already shows (``recovery``);
3. the email log, then the records, are written as objects named after the
   partition and offsets (a redo overwrites them);
4. the offsets are committed.

An outage (SMTP, GCS, Kafka) holds the batch and retries with backoff; the
consumer stays in its group meanwhile. SIGTERM finishes the buffered
batches, commits and leaves the group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumers import recovery
from consumers.handlers import Handler
from consumers.mailer import Mailer
from consumers.recovery import Recovery
from consumers.retry import Backoff, StopWhileRetryingError, Waiter, until_done
from fraudstream import kafka, lake, registry
from fraudstream.avro_codec import DecodeError, RecordDecoder
from fraudstream.batches import BatchKey, to_ndjson
from fraudstream.config import Settings
from fraudstream.stopping import StopFlag

log = logging.getLogger("fraudstream.consumer")

Partition = tuple[str, int]
# Kafka reports a commit for partitions this member no longer owns with these.
_OWNERSHIP_LOST = {
    KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError._ASSIGNMENT_LOST,
}  # fmt: skip


class OwnershipLostError(Exception):
    """The partition of the batch in hand went to another member: drop the batch."""


def consumer_config(settings: Settings, group: str) -> dict[str, Any]:
    return {
        **kafka.client_config(settings.kafka_bootstrap_servers),
        "group.id": group,
        "isolation.level": "read_committed",  # the producer writes in transactions
        "enable.auto.commit": False,  # committed by hand, after the lake write
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "fetch.max.bytes": 16 * 1024 * 1024,
    }


@dataclass
class Totals:
    batches: int = 0
    records: int = 0
    emails_sent: int = 0
    emails_rejected: int = 0
    emails_already_sent: int = 0
    dead_letters: int = 0
    first_message_at: float | None = None  # monotonic
    last_commit_at: float | None = None

    @property
    def busy_seconds(self) -> float:
        """From the first message taken to the last batch committed."""
        if self.first_message_at is None or self.last_commit_at is None:
            return 0.0
        return self.last_commit_at - self.first_message_at


@dataclass
class _Buffer:
    messages: list[Message] = field(default_factory=list)
    since: float = 0.0  # when the oldest buffered message arrived (monotonic)


@dataclass(frozen=True)
class _Outcome:
    records: list[dict[str, Any]]
    offsets: list[int]  # of each record
    dead: list[tuple[Message, str]]


class BatchConsumer:
    """Consumes one topic as a member of ``group`` and runs ``handler`` on each batch."""

    def __init__(
        self,
        settings: Settings,
        handler: Handler,
        *,
        mailer: Mailer | None = None,
        stop: StopFlag | None = None,
        backoff: Backoff | None = None,
        send_emails: bool = True,
    ) -> None:
        self.settings, self.handler, self.send_emails = settings, handler, send_emails
        self.topic, self.group = handler.topic, handler.group
        self.mailer = mailer or Mailer.from_settings(settings)
        self.decoder = RecordDecoder(registry_fetcher(settings.schema_registry_url))
        self.stop = stop or StopFlag()
        self.totals = Totals()
        self._consumer = Consumer(consumer_config(settings, self.group))
        self._dead_letters = Producer(kafka.producer_config(settings.kafka_bootstrap_servers))
        self._bucket = lake.storage_client(settings.gcp_project).bucket(settings.lake_bucket)
        self._buffers: dict[Partition, _Buffer] = {}
        self._recoveries: dict[Partition, Recovery] = {}
        self._waiter = Waiter(
            self._pause,
            lambda: self.stop.requested,
            backoff or Backoff(settings.retry_first_seconds, settings.retry_max_seconds),
        )
        self._idle_since = time.monotonic()

    # The loop ------------------------------------------------------------------------------

    def run(self, idle_exit: float | None = None) -> Totals:
        """Consume until stopped (or, with ``idle_exit``, until nothing came for that long)."""
        self._consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )  # fmt: skip
        try:
            while not self.stop.requested and not self._idle_for(idle_exit):
                messages = self._consumer.consume(1000, self._poll_timeout())
                for message in messages:
                    self._take(message)
                if messages:
                    self._idle_since = time.monotonic()
                    self.totals.first_message_at = self.totals.first_message_at or self._idle_since
                self._finish_due_batches(everything=False)
            self._finish_due_batches(everything=True)
        except StopWhileRetryingError as stopped:
            log.warning("stopped while retrying; the batch is left uncommitted for a redo",
                        extra={"what": str(stopped)})  # fmt: skip
        finally:
            self._consumer.close()
            self._dead_letters.flush(30)
            self.mailer.close()
        counts = {name: value for name, value in vars(self.totals).items() if "_at" not in name}
        busy = round(self.totals.busy_seconds, 3)
        log.info("consumer stopped", extra={"topic": self.topic, "busy_s": busy, **counts})
        return self.totals

    def _idle_for(self, seconds: float | None) -> bool:
        """Nothing buffered, and for ``seconds`` no message came, no batch was finished and
        no partition assigned. A member waiting to join the group is not idle."""
        if seconds is None or self._buffers or not self._consumer.assignment():
            return False
        return time.monotonic() - self._idle_since > seconds

    def _poll_timeout(self) -> float:
        if not self._buffers:
            return 1.0
        oldest = min(buffer.since for buffer in self._buffers.values())
        due_in = oldest + self.settings.batch_max_seconds - time.monotonic()
        return max(0.0, min(1.0, due_in))

    def _take(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            log.warning("kafka", extra={"reason": error.str()})
            return
        tp = (message.topic(), message.partition())
        if tp not in self._recoveries:
            return  # from before a revocation this member has not yet recovered from
        buffer = self._buffers.setdefault(tp, _Buffer(since=time.monotonic()))
        buffer.messages.append(message)

    def _finish_due_batches(self, everything: bool) -> None:
        for tp in list(self._buffers):
            while (batch := self._due_batch(tp, everything)) is not None:
                try:
                    self._finish(tp, batch)
                except OwnershipLostError:
                    log.info("partition moved to another member; it redoes the batch",
                             extra={"topic": tp[0], "partition": tp[1]})  # fmt: skip
                    break

    def _due_batch(self, tp: Partition, everything: bool) -> list[Message] | None:
        """The messages to finish now for ``tp``, taken out of its buffer; None if not due."""
        buffer = self._buffers.get(tp)
        if buffer is None:
            return None
        replay_until = self._recoveries[tp].replay_until
        if replay_until is not None:
            # Redo exactly the batch whose email log is in the lake, whatever the limits.
            cut = sum(1 for message in buffer.messages if (message.offset() or 0) <= replay_until)
            if cut == len(buffer.messages) and (buffer.messages[-1].offset() or 0) < replay_until:
                return None
        else:
            full = len(buffer.messages) >= self.settings.batch_max_records
            old = time.monotonic() - buffer.since >= self.settings.batch_max_seconds
            if not (full or old or everything):
                return None
            cut = min(len(buffer.messages), self.settings.batch_max_records)
        batch, rest = buffer.messages[:cut], buffer.messages[cut:]
        if rest:
            buffer.messages = rest
        else:
            del self._buffers[tp]
        return batch

    # One batch -----------------------------------------------------------------------------

    def _finish(self, tp: Partition, batch: list[Message]) -> None:
        started = time.monotonic()
        key = BatchKey(tp[0], tp[1], batch[0].offset() or 0, batch[-1].offset() or 0)
        outcome = self._decode(batch)
        self._send_dead_letters(outcome.dead)
        email_log = self._send_emails(tp, outcome)
        lake_records = [self.handler.lake_record(record) for record in outcome.records]
        if email_log:
            self._write(key.object_name(recovery.EMAIL_LOG), email_log, tp)
        if lake_records:
            self._write(key.object_name(self.handler.folder), lake_records, tp)
        self._commit(tp, key.last_offset + 1)
        self._recoveries[tp] = Recovery()  # a redo, if there was one, is done
        self._idle_since = time.monotonic()  # time spent on a held batch is not idle time
        self._count(outcome, email_log)
        log.info("batch written", extra={
            "topic": key.topic, "partition": key.partition, "first_offset": key.first_offset,
            "last_offset": key.last_offset, "records": len(lake_records),
            "dead_letters": len(outcome.dead), "seconds": round(time.monotonic() - started, 3),
        })  # fmt: skip

    def _decode(self, batch: list[Message]) -> _Outcome:
        records: list[dict[str, Any]] = []
        offsets: list[int] = []
        dead: list[tuple[Message, str]] = []
        for message in batch:
            try:
                records.append(self._decoded(message.value()))
                offsets.append(message.offset() or 0)
            except DecodeError as error:
                dead.append((message, str(error)))
        return _Outcome(records, offsets, dead)

    def _decoded(self, value: bytes | None) -> dict[str, Any]:
        try:
            return self.decoder.decode(value)
        except RegistryUnavailableError:  # a new schema id, and the registry is away
            return until_done(partial(self.decoder.decode, value), "schema lookup",
                              self._waiter, (RegistryUnavailableError,))  # fmt: skip

    def _send_dead_letters(self, dead: list[tuple[Message, str]]) -> None:
        """Produce each undecodable message to the dead-letter topic, as it came, and wait."""
        if dead:
            until_done(partial(self._produce_dead_letters, dead), "dead letters",
                       self._waiter, (KafkaException, kafka.DeliveryError))  # fmt: skip

    def _produce_dead_letters(self, dead: list[tuple[Message, str]]) -> None:
        letters = (
            {"topic": self.settings.dead_letter_topic, "value": message.value(),
             "key": message.key(), "headers": self._dead_letter_headers(message, reason)}
            for message, reason in dead
        )  # fmt: skip
        kafka.produce_and_wait(self._dead_letters, letters, "dead letters")

    def _dead_letter_headers(self, message: Message, reason: str) -> list[tuple[str, bytes]]:
        return [
            ("error", reason.encode()),
            ("source.topic", str(message.topic()).encode()),
            ("source.partition", str(message.partition()).encode()),
            ("source.offset", str(message.offset()).encode()),
            ("consumer.group", self.group.encode()),
        ]

    def _send_emails(self, tp: Partition, outcome: _Outcome) -> list[dict[str, Any]]:
        """Send what the email log does not already show; the log entries of every record."""
        if not self.send_emails:
            return []
        already, records = self._recoveries[tp].sent, outcome.records
        unsent = [(record, offset) for record, offset in zip(records, outcome.offsets, strict=True)
                  if record["transaction_id"] not in already]  # fmt: skip
        jobs = (self.handler.email(record, {"topic": tp[0], "partition": tp[1], "offset": offset})
                for record, offset in unsent)  # fmt: skip
        sent = {entry["transaction_id"]: entry for entry in self.mailer.deliver(jobs, self._waiter)}
        self.totals.emails_already_sent += len(records) - len(unsent)
        return [sent.get(record["transaction_id"]) or already[record["transaction_id"]]
                for record in records]  # fmt: skip

    def _write(self, name: str, records: list[dict[str, Any]], tp: Partition) -> None:
        data = to_ndjson(records)
        until_done(
            partial(lake.write_object, self._bucket, name, data, "application/x-ndjson"),
            "lake write",
            self._waiter,
            lake.TRANSIENT_ERRORS,
        )
        self._require_ownership(tp)

    def _commit(self, tp: Partition, next_offset: int) -> None:
        offsets = [TopicPartition(tp[0], tp[1], next_offset)]
        try:
            until_done(partial(self._commit_now, offsets), "offset commit", self._waiter,
                       (_RetriableKafkaError,))  # fmt: skip
        except KafkaException as error:
            if error.args[0].code() in _OWNERSHIP_LOST:
                raise OwnershipLostError(str(tp)) from error
            raise

    def _commit_now(self, offsets: list[TopicPartition]) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            if error.args[0].retriable() and error.args[0].code() not in _OWNERSHIP_LOST:
                raise _RetriableKafkaError(error.args[0].str()) from error
            raise

    def _count(self, outcome: _Outcome, email_log: list[dict[str, Any]]) -> None:
        self.totals.batches += 1
        self.totals.last_commit_at = time.monotonic()
        self.totals.records += len(outcome.records)
        self.totals.dead_letters += len(outcome.dead)
        statuses = [entry["status"] for entry in email_log]
        self.totals.emails_sent += statuses.count("sent")
        self.totals.emails_rejected += statuses.count("rejected")

    # The group -----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each new partition where the lake says, not only where the commit says."""
        committed = consumer.committed(partitions, timeout=30)
        waiter = Waiter(time.sleep, lambda: self.stop.requested, self._waiter.backoff)
        try:
            for tp in committed:
                found = until_done(
                    partial(recovery.recover, self._bucket, self.handler.folder, tp.topic,
                            tp.partition, tp.offset),
                    "lake recovery", waiter, lake.TRANSIENT_ERRORS,
                )  # fmt: skip
                self._recoveries[(tp.topic, tp.partition)] = found
                if found.resume_offset is not None:
                    tp.offset = found.resume_offset
                log.info("partition assigned", extra={
                    "topic": tp.topic, "partition": tp.partition, "offset": tp.offset,
                    "redo_until": found.replay_until, "emails_logged": len(found.sent),
                })  # fmt: skip
        except StopWhileRetryingError:
            log.warning("stopped while recovering partitions")
        consumer.assign(committed)
        self._idle_since = time.monotonic()

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget what this member held of them: it is uncommitted, so the next owner redoes it."""
        for tp in partitions:
            self._buffers.pop((tp.topic, tp.partition), None)
            self._recoveries.pop((tp.topic, tp.partition), None)
        if partitions:
            log.info(
                "partitions revoked", extra={"partitions": [tp.partition for tp in partitions]}
            )

    def _pause(self, seconds: float) -> None:
        """Wait while keeping this member in its group (no fetching meanwhile)."""
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = self._consumer.poll(min(left, 1.0))
            if message is not None:
                self._take(message)
        still_assigned = set(self._consumer.assignment())
        self._consumer.resume([tp for tp in assignment if tp in still_assigned])

    def _require_ownership(self, tp: Partition) -> None:
        if tp not in self._recoveries:
            raise OwnershipLostError(str(tp))


class RegistryUnavailableError(RuntimeError):
    """The schema registry did not answer; not the message's fault."""


class _RetriableKafkaError(RuntimeError):
    pass


def registry_fetcher(url: str) -> Callable[[int], str]:
    """A schema fetcher for ``RecordDecoder``: LookupError for an unknown id."""
    client = registry.registry_client(url)

    def fetch(schema_id: int) -> str:
        try:
            return str(client.get_schema(schema_id).schema_str)
        except SchemaRegistryError as error:
            if error.http_status_code == 404:
                raise LookupError(schema_id) from error
            raise RegistryUnavailableError(str(error)) from error
        except Exception as error:  # the HTTP client's connection errors
            raise RegistryUnavailableError(str(error)) from error

    return fetch
