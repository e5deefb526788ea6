"""The case consumer: flagged transactions and customers' answers -> the fraud case table.

It reads ``fraud_transaction`` and ``fraud_confirmation`` in one group. Each
batch is written in one database transaction of idempotent upserts
(``fraudstream.storage.case_table``), and only then are its offsets committed, so a crash
anywhere redoes at most a batch and the redo changes nothing: every case and
answer is in the table once. A record it cannot decode or make a row of goes
to the dead-letter topic, as does a row the database refuses (a batch holding
one is written again row by row); a database or Kafka outage holds the batch
and retries. An answer counts only with the MAC the confirmation service recorded it
with (``emails.tokens.signed_record``): whoever else may write to the topic (Kafka's super
user) cannot close a case; one without is logged, counted and dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Message, Producer
from sqlalchemy import Engine

from fraudstream import kafka
from fraudstream.consumers import sinks
from fraudstream.consumers.commits import Committer
from fraudstream.consumers.decoding import Decoded, decode_batch
from fraudstream.consumers.retry import Backoff, Waiter, pause_in_group, until_done
from fraudstream.consumers.running import run_until_stopped
from fraudstream.consumers.sinks import DeadLetter
from fraudstream.consumers.watch import ConsumerWatch
from fraudstream.emails.tokens import signed_record
from fraudstream.paysim.avro_codec import RecordDecoder
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, token_key
from fraudstream.storage import case_table

log = logging.getLogger("fraudstream.cases")


_Row = tuple[dict[str, Any], Message]  # a row of the case table, and the message it came as


@dataclass
class _Rows:
    """A batch's rows, and its dead letters."""

    cases: list[_Row] = field(default_factory=list)
    answers: list[_Row] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass
class CaseTotals:
    batches: int = 0
    cases: int = 0
    answers: int = 0
    dead_letters: int = 0

    def summary(self) -> str:
        return (
            f"{self.cases:,} flagged transactions and {self.answers:,} answers in "
            f"{self.batches:,} batches, {self.dead_letters:,} dead letters"
        )


@dataclass
class CaseConsumer:
    settings: Settings
    consumer: Consumer
    dead_letter_producer: Producer
    decoders: dict[str, RecordDecoder]  # by topic
    engine: Engine
    stop: StopFlag
    totals: CaseTotals = field(default_factory=CaseTotals)

    def __post_init__(self) -> None:
        backoff = Backoff(self.settings.retry_first_seconds, self.settings.retry_max_seconds)
        group = self.settings.cases_consumer_group
        self.waiter = Waiter(
            self._pause, lambda: self.stop.requested, backoff, partial(metrics.count_retry, group)
        )
        self.watch = ConsumerWatch(group, self.consumer, latency_sink="case_row")
        self.dead_letters = sinks.DeadLetters(
            self.dead_letter_producer,
            self.settings.dead_letter_topic,
            self.settings.cases_consumer_group,
            self.waiter,
        )
        self.committer = Committer(self.consumer, self.waiter)
        self._held: list[Message] = []  # came in while a batch was retried
        self._idle_since = time.monotonic()

    def run(self, idle_exit: float | None = None) -> CaseTotals:
        """Consume until stopped (or, with ``idle_exit``, nothing came for that long)."""
        topics = [self.settings.fraud_topic, self.settings.confirmation_topic]
        self.consumer.subscribe(topics, on_assign=kafka.assign_fetching)  # see its doc
        self._idle_since = time.monotonic()
        run_until_stopped(
            self._step,
            stop=self.stop,
            idle=lambda: self._idle_for(idle_exit),
            finish=lambda: None,
            watch=self._watch,
            close=self._close,
        )
        log.info("case consumer stopped", extra=vars(self.totals))
        return self.totals

    def _step(self) -> None:
        fresh = kafka.fetch(self.consumer, self.settings.batch_max_records, 1.0)
        batch, self._held = self._held + fresh, []
        messages = [m for m in batch if kafka.is_record(m)]
        if messages:
            self._finish(messages)
            self._idle_since = time.monotonic()

    def _idle_for(self, seconds: float | None) -> bool:
        """For ``seconds`` no record came, once partitions are assigned."""
        if seconds is None or not self.consumer.assignment():
            return False
        return time.monotonic() - self._idle_since > seconds

    def _close(self) -> None:
        self.watch.close()
        self.consumer.close()
        self.dead_letter_producer.flush(30)
        self.engine.dispose()

    def _watch(self, force: bool = False) -> None:
        totals = self.totals
        self.watch.update(totals.cases + totals.answers + totals.dead_letters, force=force)

    def _finish(self, messages: list[Message]) -> None:
        started = time.monotonic()
        decoded = decode_batch(self.decoders, messages, self.waiter)
        rows = self._rows(decoded)
        self._write(rows)
        made = (row["event_time"] for row, _ in rows.cases)
        metrics.observe_latency("case_row", (t for t in made if isinstance(t, datetime | int)))
        self.dead_letters.send(rows.dead)
        self._commit(messages)
        self.totals.batches += 1
        self.totals.cases += len(rows.cases)
        self.totals.answers += len(rows.answers)
        self.totals.dead_letters += len(rows.dead)
        self._count(messages, len(rows.dead), started)
        log.info(
            "cases written",
            extra={
                "cases": len(rows.cases),
                "answers": len(rows.answers),
                "dead_letters": len(rows.dead),
            },
        )

    def _rows(self, decoded: Decoded) -> _Rows:
        """Each record as the row it sets; one that cannot be a row is a dead letter."""
        rows = _Rows(dead=list(decoded.dead))
        for record, message in zip(decoded.records, decoded.messages, strict=True):
            try:
                if message.topic() == self.settings.confirmation_topic:
                    rows.answers.append((self._answer_row(record), message))
                else:
                    rows.cases.append((case_table.case_row(record, _kafka_time(message)), message))
            except (KeyError, TypeError, ValueError) as error:
                reason = f"not a case or an answer: {type(error).__name__}: {error}"
                rows.dead.append(DeadLetter(message, reason))
        return rows

    def _answer_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """The row of an answer the confirmation service recorded; ValueError for another."""
        if not signed_record(record, token_key(self.settings)):
            metrics.ANSWERS_REFUSED.inc()
            log.warning("an answer without the token key's MAC; not counted")
            raise ValueError("an answer without the token key's MAC")
        return case_table.answer_row(record)

    def _write(self, rows: _Rows) -> None:
        """The batch in one database transaction; if the database refuses a row of it, each
        row in its own, and the refused ones join the dead letters."""
        try:
            self._write_rows(rows.cases, rows.answers)
            return
        except case_table.RowRefusedError as error:
            log.warning(
                "the database refused a row: writing the batch row by row",
                extra={"reason": str(error)},
            )
        rows.cases = [case for case in rows.cases if self._written_alone([case], [], rows.dead)]
        rows.answers = [a for a in rows.answers if self._written_alone([], [a], rows.dead)]

    def _written_alone(
        self, found: list[_Row], answers: list[_Row], dead: list[DeadLetter]
    ) -> bool:
        """Whether the database took the one row given; a dead letter if it refused it."""
        try:
            self._write_rows(found, answers)
        except case_table.RowRefusedError as error:
            dead.append(DeadLetter((found or answers)[0][1], str(error)))
            return False
        return True

    def _write_rows(self, found: list[_Row], answers: list[_Row]) -> None:
        """Cases and answers in one database transaction, retried while the database is away."""
        case_rows, answer_rows = [row for row, _ in found], [row for row, _ in answers]
        until_done(
            lambda: case_table.write(self.engine, case_rows, answer_rows),
            "case table",
            self.waiter,
            (case_table.CasesUnavailableError,),
        )

    def _count(self, messages: list[Message], dead: int, started: float) -> None:
        group = self.settings.cases_consumer_group
        for topic, taken in Counter(str(message.topic()) for message in messages).items():
            metrics.RECORDS_CONSUMED.labels(group, topic).inc(taken)
        metrics.count_batch(group, time.monotonic() - started, dead)

    def _commit(self, messages: list[Message]) -> None:
        """Each partition's next offset; a partition that moved is the new owner's to redo
        (the upserts make that harmless)."""
        next_offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            partition = (str(message.topic()), message.partition() or 0)
            next_offsets[partition] = max(
                next_offsets.get(partition, 0), (message.offset() or 0) + 1
            )
        for partition, offset in next_offsets.items():
            try:
                self.committer.commit(partition, offset)
            except kafka.OwnershipLostError:
                log.info(
                    "partition moved to another member before its commit",
                    extra={"topic": partition[0], "partition": partition[1]},
                )

    def _pause(self, seconds: float) -> None:
        pause_in_group(self.consumer, seconds, self._held.append)


def _kafka_time(message: Message) -> datetime:
    """When the producer wrote the record: when it was flagged."""
    _kind, millis = message.timestamp()
    return datetime.fromtimestamp(max(millis, 0) / 1000, UTC)
