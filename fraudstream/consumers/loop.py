"""The consumer loop: read_committed records -> emails -> lake objects -> offset commit.

Records are buffered per partition (``buffer``) and taken in slices: when a
partition's oldest record has waited EMAIL_MAX_SECONDS (0.1 s), or
SLICE_MAX_EMAILS came. A slice's emails go out at once (``slicing``), but
only once a commit of the lake batch's first offset has shown that the group
still counts this member as the owner; then its dead letters. Its records gather
(``gathering``) into a lake batch, which is written when it holds
BATCH_MAX_RECORDS or is BATCH_MAX_SECONDS (10 s) old: the email log first,
the records last, then its offsets are committed. So the customer hears
within a fraction of a second, and the lake gets one object per partition
and folder every ten seconds, not ten.

The committed offset stays at the lake batch's first until the batch is in
the lake. After each slice the commit carries a note of the last offset
emailed: a member taking over after a crash sends none of those again
(``recovery``), and a crash between any two steps loses nothing. Objects are
uploaded by a worker thread while the loop goes on consuming; a lake batch's
last commit is not waited for (a batch the lake holds is skipped by
recovery). Without emails, a slice is a whole lake batch.

An outage (SMTP, GCS, Kafka) holds the slice or batch and retries with
backoff; the consumer stays in its group meanwhile. SIGTERM finishes the
records buffered by then, commits and leaves the group; what comes meanwhile is
left, uncommitted, to the partition's next reader.

A topic far behind (a backlog) comes in faster than emails go out: once the loop
holds five lake batches' worth of records, over all partitions, it takes no more
while it waits (an upload, a commit's reply) than a poll's one message, and each
pass takes a partition's batches as they stood, so that one busy partition does
not keep the others waiting.

The group can take a partition away only while the loop polls: in a retry's
pause, or while an upload goes on. What of the partition went out then
reaches the lake before the revoke returns (``holdings``), so whoever owns it
next, this member again included, recovers from it. What this member held of
it is dropped, even if the partition has come back: a new assignment reads it
again and redoes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial

from confluent_kafka import Consumer, Message, TopicPartition

from fraudstream import kafka
from fraudstream.consumers import sinks
from fraudstream.consumers.buffer import BatchBuffer, Partition
from fraudstream.consumers.clients import ConsumerClients
from fraudstream.consumers.commits import Committer
from fraudstream.consumers.gathering import LakeBatch
from fraudstream.consumers.handlers import Handler
from fraudstream.consumers.holdings import Holdings
from fraudstream.consumers.notes import CommitNotes
from fraudstream.consumers.retry import Backoff, StopWhileRetryingError, Waiter, pause_in_group
from fraudstream.consumers.running import consume_until_done, run_until_stopped
from fraudstream.consumers.slicing import SLICE_MAX_EMAILS, SliceTaker
from fraudstream.consumers.totals import Totals
from fraudstream.consumers.watch import ConsumerWatch
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, note_key
from fraudstream.storage.batches import ndjson_line
from fraudstream.topology import LakeFolder

log = logging.getLogger("fraudstream.consumer")
# Records held at most while an upload goes on: five lake batches' worth in all, over
# every partition, not five more at each upload (a backlog would then pile up in memory).
UPLOAD_ROOM_BATCHES = 5


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
        self.lake_max_records = settings.batch_max_records
        self.lake_max_seconds = settings.batch_max_seconds
        # Emailing, records are taken in slices and gathered into lake batches; otherwise
        # a slice is a lake batch.
        self.buffer: BatchBuffer[Message] = (
            BatchBuffer(min(SLICE_MAX_EMAILS, self.lake_max_records), settings.email_max_seconds)
            if clients.mailer
            else BatchBuffer(self.lake_max_records, self.lake_max_seconds)
        )
        backoff = Backoff(settings.retry_first_seconds, settings.retry_max_seconds)
        retries = partial(metrics.count_retry, handler.group)
        self.waiter = Waiter(self._pause, lambda: stop.requested, backoff, retries)
        self.dead_letters = sinks.DeadLetters(
            clients.dead_letter_producer, settings.dead_letter_topic, handler.group, self.waiter
        )
        mailer = clients.mailer
        self.emails = None if mailer is None else sinks.CustomerEmails(mailer, handler, self.waiter)
        # The batch's objects are uploaded by a worker thread while this one goes on
        # consuming; its retries sleep, since this thread keeps the member in its group.
        sleeper = Waiter(time.sleep, lambda: stop.requested, backoff, retries)
        self.uploads = sinks.LakeWriter(clients.bucket, sleeper)
        self._uploader = ThreadPoolExecutor(1, thread_name_prefix="upload")
        self.committer = Committer(
            clients.consumer, self.waiter, clients.commit_replies, self._serve
        )
        notes = CommitNotes(note_key(settings), handler.group)
        self.holdings = Holdings(clients.bucket, handler.folder, self.buffer, self.uploads, notes)
        self.slices = SliceTaker(
            handler=handler,
            decoder=clients.decoder,
            buffer=self.buffer,
            holdings=self.holdings,
            committer=self.committer,
            emails=self.emails,
            dead_letters=self.dead_letters,
            waiter=self.waiter,
            totals=self.totals,
            notes=notes,
        )
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
        self._take_all(kafka.fetch(self.clients.consumer, 1000, self._poll_timeout()))
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
            self._as_owner(partition, partial(self.slices.take, partition, batch))
            self._idle_since = time.monotonic()  # time spent on a held slice is not idle time
            self._write_if_due(partition, everything=False)  # before its next slice
        for partition in list(self.holdings.gathering):
            self._write_if_due(partition, everything)

    def _write_if_due(self, partition: Partition, everything: bool) -> None:
        gathered = self.holdings.gathering.get(partition)
        if gathered is None:
            return
        redo_until = self.holdings.heeded(partition).replay_until  # the redo's batch ends there
        due = gathered.due(self.lake_max_records, self.lake_max_seconds, time.monotonic())
        if everything or due or self.emails is None or gathered.last_offset == redo_until:
            self._as_owner(partition, partial(self._write_lake_batch, gathered))

    def _as_owner(self, partition: Partition, work: Callable[[], None]) -> None:
        """``work()``; if it finds the partition moved, what this member held of it goes."""
        assignment = self.buffer.assignment(partition)
        try:
            work()
        except kafka.OwnershipLostError as lost:
            where = {"topic": partition[0], "partition": partition[1]}
            log.info(
                "partition moved; its owner redoes the batch", extra={**where, "reason": str(lost)}
            )
            if self.buffer.assignment(partition) == assignment:  # the commit was refused
                self.buffer.revoke(partition)
                self.holdings.forget(partition)
        finally:
            self.holdings.in_hand = None

    def _write_lake_batch(self, gathered: LakeBatch) -> None:
        """Write the lake batch's objects, the email log first, then commit past it."""
        started, key, partition = time.monotonic(), gathered.key(), gathered.partition
        held = self.holdings.in_hand = sinks.BatchInHand(
            partition, self.buffer.assignment(partition), key.object_name(LakeFolder.EMAIL_LOG)
        )
        if gathered.entries:
            self._write(held, held.email_log, [ndjson_line(entry) for entry in gathered.entries])
        if gathered.lines:
            self._write(held, key.object_name(self.handler.folder), gathered.lines)
        self.committer.commit(partition, key.last_offset + 1, wait=False)  # see the top
        self.holdings.written(partition, key.last_offset)
        self.totals.add_batch()
        self._idle_since = time.monotonic()
        metrics.observe_latency(f"lake/{self.handler.folder}", gathered.live_times)
        seconds = round(time.monotonic() - started, 3)
        written = {"records": len(gathered.lines), "dead_letters": gathered.dead}
        log.info("batch written", extra={**asdict(key), **written, "seconds": seconds})

    def _write(self, held: sinks.BatchInHand, name: str, lines: list[bytes]) -> None:
        """Write one object of the batch; meanwhile the next batch gathers."""
        upload = held.upload = self._uploader.submit(self.uploads.write, name, lines)
        consume_until_done(self.clients.consumer, upload, self._take_all, self._buffer_full)
        upload.result()
        self.holdings.check_in_hand()

    def _buffer_full(self) -> bool:
        """As many records held as the loop may take while it waits (an upload, a reply)."""
        return len(self.buffer) >= UPLOAD_ROOM_BATCHES * self.lake_max_records

    # The group -----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each new partition where the lake says, not only where the commit says."""
        waiter = Waiter(time.sleep, lambda: self.stop.requested, self.waiter.backoff)
        try:
            committed, moved = self.holdings.take_over_all(consumer, partitions, waiter)
        except StopWhileRetryingError:
            log.warning("stopped while recovering partitions")
            committed, moved = partitions, []
        kafka.assign_fetching(consumer, committed)  # a pause left from before ends here
        self.committer.resumed(moved)  # the group's lag says what is left, even if nothing comes
        self._idle_since = time.monotonic()

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget what this member held of them: it is uncommitted, so the next owner redoes it."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self.holdings.give_back(revoked)
        self.committer.forget(revoked)
        self.watch.forget(revoked)
        if partitions:
            log.info(
                "partitions revoked", extra={"partitions": [tp.partition for tp in partitions]}
            )

    def _serve(self, seconds: float) -> None:
        """Poll for ``seconds``, keeping what comes: rebalance callbacks and commit replies
        are served meanwhile. With the buffer full, one message at most comes: each owner
        check of a slice polls, and a backlog would otherwise come in faster than emails
        go out."""
        consumer = self.clients.consumer
        if not self._buffer_full():
            self._take_all(consumer.consume(500, seconds))
        elif (message := consumer.poll(seconds)) is not None:
            self._take_all([message])

    def _pause(self, seconds: float) -> None:
        pause_in_group(self.clients.consumer, seconds, self._take)
        self.holdings.check_in_hand()
