"""The consumer loop: read_committed batches -> emails -> lake objects -> offset commit.

Records are buffered per partition (``buffer``) and finished as a batch when
the batch holds BATCH_MAX_RECORDS or its oldest record has waited
BATCH_MAX_SECONDS. A batch is finished by the steps of ``sinks``, in their order,
so a crash between any two leaves nothing lost and, once redone, nothing doubled.
Its emails go only once a commit of its first offset has shown that the group
still counts this member as the owner, and skip those the lake's email log
already shows (``recovery``). Its objects are uploaded by a worker thread while
the loop goes on consuming; its last commit is not waited for (a batch the lake
holds is skipped by recovery), so the next batch need not wait on it.

An outage (SMTP, GCS, Kafka) holds the batch and retries with backoff; the
consumer stays in its group meanwhile. SIGTERM finishes the buffered
batches, commits and leaves the group.

The group can take a partition away only while the loop polls: in a retry's
pause, or while an upload goes on. When it takes the partition of the batch
in hand, what of that batch went out reaches the lake before the revoke
returns (the upload under way ends; the emails sent so far are logged), so
whoever owns the partition next, this member again included, recovers from
it. The batch itself is then dropped at the next check, even if the
partition has come back: a new assignment reads it again and redoes it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial

from confluent_kafka import Consumer, Message, TopicPartition

from fraudstream import kafka, lake, metrics
from fraudstream.batches import BatchKey, ndjson_line
from fraudstream.config import Settings
from fraudstream.consumers import sinks
from fraudstream.consumers.buffer import BatchBuffer, Partition
from fraudstream.consumers.clients import ConsumerClients
from fraudstream.consumers.decoding import Decoded, decode_batch
from fraudstream.consumers.handlers import Handler
from fraudstream.consumers.recovery import recover
from fraudstream.consumers.retry import (
    Backoff,
    StopWhileRetryingError,
    Waiter,
    pause_in_group,
    until_done,
)
from fraudstream.consumers.running import consume_until_done, run_until_stopped
from fraudstream.consumers.totals import Totals, count_batch_metrics, observe_batch_latency
from fraudstream.consumers.watch import ConsumerWatch
from fraudstream.stopping import StopFlag
from fraudstream.topology import LakeFolder

log = logging.getLogger("fraudstream.consumer")
UPLOAD_ROOM_BATCHES = 5  # batches' worth more consumed during one upload, at most


class BatchConsumer:
    """Consumes ``handler.topic`` as a member of ``handler.group`` and finishes its batches."""

    def __init__(
        self, settings: Settings, handler: Handler, clients: ConsumerClients, stop: StopFlag
    ) -> None:
        self.handler, self.clients, self.stop = handler, clients, stop
        self.totals = Totals()
        sink = f"{'email' if clients.mailer else 'lake'}/{handler.folder}"
        self.watch = ConsumerWatch(handler.group, clients.consumer, latency_sink=sink)
        self._consumed = metrics.RECORDS_CONSUMED.labels(handler.group, handler.topic)
        self.buffer: BatchBuffer[Message] = BatchBuffer(
            settings.batch_max_records, settings.batch_max_seconds
        )
        backoff = Backoff(settings.retry_first_seconds, settings.retry_max_seconds)
        retries = partial(metrics.count_retry, handler.group)
        self.waiter = Waiter(self._pause, lambda: stop.requested, backoff, retries)
        self.dead_letters = sinks.DeadLetters(
            clients.dead_letter_producer, settings.dead_letter_topic, handler.group, self.waiter
        )
        mailer = clients.mailer
        self.emails = None if mailer is None else sinks.CustomerEmails(mailer, handler, self.waiter)
        self.lake = sinks.LakeWriter(clients.bucket, self.waiter)
        # The batch's objects are uploaded by a worker thread while this one goes on
        # consuming; its retries sleep, since this thread keeps the member in its group.
        sleeper = Waiter(time.sleep, lambda: stop.requested, backoff, retries)
        self.uploads = sinks.LakeWriter(clients.bucket, sleeper)
        self._uploader = ThreadPoolExecutor(1, thread_name_prefix="upload")
        self.committer = sinks.Committer(clients.consumer, self.waiter, clients.commit_replies)
        self._logged: dict[Partition, dict[str, sinks.LogEntry]] = {}  # the email log of a redo
        self._in_hand: sinks.BatchInHand | None = None
        self._idle_since = time.monotonic()

    def run(self, idle_exit: float | None = None) -> Totals:
        """Consume until stopped (or, with ``idle_exit``, until nothing came for that long)."""
        consumer = self.clients.consumer
        consumer.subscribe(
            [self.handler.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        run_until_stopped(
            self._step,
            stop=self.stop,
            idle=lambda: self._idle_for(idle_exit),
            finish=self._finish_all,
            watch=self._watch,
            close=self._close,
        )
        log.info("consumer stopped", extra={"topic": self.handler.topic, **self.totals.counts()})
        return self.totals

    def _step(self) -> None:
        self._take_all(self.clients.consumer.consume(1000, self._poll_timeout()))
        self._finish_due(everything=False)
        self.committer.resend_refused(self.buffer.owns)

    def _finish_all(self) -> None:
        self._finish_due(everything=True)
        self.committer.settle(self.buffer.owns)

    def _close(self) -> None:
        self._uploader.shutdown()
        self.watch.close()
        self.clients.close()

    def _watch(self, force: bool = False) -> None:
        totals = self.totals
        self.watch.update(totals.records + totals.dead_letters, totals.emails_sent, force)

    def _idle_for(self, seconds: float | None) -> bool:
        """Nothing buffered, and for ``seconds`` no message came, no batch was finished and
        no partition assigned. A member waiting to join the group is not idle."""
        if seconds is None or len(self.buffer) or not self.clients.consumer.assignment():
            return False
        return time.monotonic() - self._idle_since > seconds

    def _poll_timeout(self) -> float:
        due_in = self.buffer.seconds_until_due()
        return 1.0 if due_in is None else min(1.0, due_in)

    def _take_all(self, messages: list[Message]) -> None:
        for message in messages:
            self._take(message)
        if messages:
            self._idle_since = time.monotonic()
            self.totals.first_message_at = self.totals.first_message_at or self._idle_since
            self._consumed.inc(len(messages))

    def _take(self, message: Message) -> None:
        if kafka.is_record(message):
            self.buffer.add((str(message.topic()), message.partition() or 0), message)

    def _finish_due(self, everything: bool) -> None:
        for partition, batch in self.buffer.due(everything):
            assignment = self.buffer.assignment(partition)
            try:
                self._finish(partition, batch)
            except kafka.OwnershipLostError as lost:
                where = {"topic": partition[0], "partition": partition[1]}
                log.info(
                    "partition moved; its owner redoes the batch",
                    extra={**where, "reason": str(lost)},
                )
                if self.buffer.assignment(partition) == assignment:  # the commit was refused
                    self.buffer.revoke(partition)
            finally:
                self._in_hand = None

    def _finish(self, partition: Partition, batch: list[Message]) -> None:
        started = time.monotonic()
        key = BatchKey(*partition, batch[0].offset() or 0, batch[-1].offset() or 0)
        held = self._in_hand = sinks.BatchInHand(
            partition, self.buffer.assignment(partition), key.object_name(LakeFolder.EMAIL_LOG)
        )
        decoded = decode_batch({self.handler.topic: self.clients.decoder}, batch, self.waiter)
        if self.emails is not None:
            # Sent emails cannot be taken back: first make sure the group still counts this
            # member as the partition's owner (a member cut from the coordinator may not
            # know yet that another took over). The commit moves nothing: every record
            # before the batch is committed or in the lake already.
            self.committer.commit(partition, key.first_offset)
        emailed = self._send_emails(held, decoded)
        failed = {i for i, _ in emailed.failed}
        lines, unfit = sinks.lake_lines(self.handler, decoded.records, skip=failed)
        unhandled = emailed.failed + unfit  # the handler raised: dead letters too
        dead = decoded.dead + [sinks.DeadLetter(decoded.messages[i], w) for i, w in unhandled]
        self.dead_letters.send(dead)
        if emailed.entries:
            log_lines = [ndjson_line(entry) for entry in emailed.entries]
            self._write(held, held.email_log, log_lines)
        if lines:
            self._write(held, key.object_name(self.handler.folder), lines)
        self.committer.commit(partition, key.last_offset + 1, wait=False)  # see step 4
        self._logged[partition] = {}  # a redo, if there was one, is done
        self._idle_since = time.monotonic()  # time spent on a held batch is not idle time
        self.totals.add_batch(len(lines), len(dead), emailed)
        count_batch_metrics(self.handler.group, started, len(dead), emailed)
        observe_batch_latency(self.handler.folder, decoded.records, emailed)
        seconds = round(time.monotonic() - started, 3)
        written = {"records": len(lines), "dead_letters": len(dead), "seconds": seconds}
        log.info("batch written", extra={**asdict(key), **written})

    def _send_emails(self, held: sinks.BatchInHand, decoded: Decoded) -> sinks.EmailOutcome:
        if self.emails is None:
            return sinks.EmailOutcome()
        logged = self._logged.get(held.partition, {})
        # Drafts are written whoever owns the partition now: the emails they log went out.
        draft = sinks.EmailLogDraft(partial(self.lake.write, held.email_log), logged.values())
        held.draft = draft
        return self.emails.send(held.partition, decoded.records, decoded.offsets, logged, draft.add)

    def _write(self, held: sinks.BatchInHand, name: str, lines: list[bytes]) -> None:
        """Write one object of the batch; meanwhile the next batch gathers."""
        upload = held.upload = self._uploader.submit(self.uploads.write, name, lines)
        # Up to UPLOAD_ROOM_BATCHES batches' worth more gathers meanwhile.
        room = len(self.buffer) + UPLOAD_ROOM_BATCHES * self.buffer.max_records
        consume_until_done(
            self.clients.consumer, upload, self._take_all, lambda: len(self.buffer) >= room
        )
        upload.result()
        self._check_in_hand()

    def _check_in_hand(self) -> None:
        """OwnershipLostError if the partition of the batch in hand was revoked since the
        batch was taken, even if it has been assigned to this member again since."""
        held = self._in_hand
        if held is not None and self.buffer.assignment(held.partition) != held.assignment:
            raise kafka.OwnershipLostError(f"{held.partition}: revoked while its batch was in hand")

    # The group -----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each new partition where the lake says, not only where the commit says."""
        waiter = Waiter(time.sleep, lambda: self.stop.requested, self.waiter.backoff)
        try:
            committed = until_done(
                lambda: kafka.committed(consumer, partitions),
                "committed offsets",
                waiter,
                (kafka.KafkaUnavailableError,),
            )
            for tp in committed:
                self._recover(tp, waiter)
        except StopWhileRetryingError:
            log.warning("stopped while recovering partitions")
            committed = partitions
        consumer.assign(committed)
        self._idle_since = time.monotonic()

    def _recover(self, tp: TopicPartition, waiter: Waiter) -> None:
        found = until_done(
            lambda: recover(
                self.clients.bucket, self.handler.folder, tp.topic, tp.partition, tp.offset
            ),
            "lake recovery",
            waiter,
            (lake.StorageUnavailableError,),
        )
        self.buffer.assign((tp.topic, tp.partition), found.replay_until)
        self._logged[(tp.topic, tp.partition)] = found.sent
        if found.resume_offset is not None:
            tp.offset = found.resume_offset
        log.info(
            "partition assigned",
            extra={
                "topic": tp.topic,
                "partition": tp.partition,
                "offset": tp.offset if tp.offset >= 0 else "from the start",
                "redo_until": found.replay_until,
                "emails_logged": len(found.sent),
            },
        )

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget what this member held of them: it is uncommitted, so the next owner redoes it."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._settle_in_hand(revoked)
        self.committer.forget(revoked)
        for partition in revoked:
            self.buffer.revoke(partition)
            self._logged.pop(partition, None)
        self.watch.forget(revoked)
        if partitions:
            log.info(
                "partitions revoked", extra={"partitions": [tp.partition for tp in partitions]}
            )

    def _settle_in_hand(self, revoked: set[Partition]) -> None:
        """If the batch in hand is of a revoked partition, what of it went out reaches the
        lake now: the upload under way ends, or else the emails sent so far are logged."""
        held = self._in_hand
        if held is not None and held.partition in revoked:
            held.settle(self.uploads)  # its retries sleep: no polling meanwhile

    def _pause(self, seconds: float) -> None:
        pause_in_group(self.clients.consumer, seconds, self._take)
        self._check_in_hand()
