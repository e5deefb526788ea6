"""The producer: PaySim CSV -> validated Avro records in Kafka, split by verdict, resumable.

Blocks of the file go to Kafka in transactions of about
PRODUCER_ROWS_PER_TRANSACTION lines (one a step when pacing), each with its
rejected rows and the checkpoint that moves past it, so a run stopped at any
moment (even by SIGKILL) resumes at the first line it had not committed and
produces no line twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from functools import partial
from typing import BinaryIO

from fraudstream.detection.detectors import Detector
from fraudstream.errors import PermanentError
from fraudstream.kafka import DeliveryError
from fraudstream.kafka.transactions import TransactionalProducer, TransactionFailedError
from fraudstream.paysim.format import check_header
from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.source import (
    Chunk,
    Source,
    count_lines,
    open_source,
    read_chunks,
    read_header,
)
from fraudstream.producer.checkpoint import Checkpoint, Counts, load_checkpoint
from fraudstream.producer.pacing import Pacing, Part, pacing_for
from fraudstream.producer.preparing import Prepared, Preparer
from fraudstream.producer.progress import Progress
from fraudstream.producer.runs import RunOptions, Summary
from fraudstream.runtime import metrics
from fraudstream.runtime.prefetch import prefetched
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.topology import TRANSACTIONAL_ID_PREFIX

log = logging.getLogger("fraudstream.producer")

# A transaction covers whole blocks until it holds PRODUCER_ROWS_PER_TRANSACTION
# lines: fewer, larger transactions keep the pipeline full (each commit waits
# for every acknowledgement); a failed one is redone from the last checkpoint.
REDO_ATTEMPTS = 10  # failed transactions in a row; with the pauses, minutes of faults


class SourceChangedError(PermanentError):
    """The file differs from the one the checkpoint was made from."""


class ProducerRun:
    """One run over one source. ``run()`` returns the summary."""

    def __init__(
        self, settings: Settings, detector: Detector, options: RunOptions, stop: StopFlag
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.options = options
        self.stop = stop
        self.preparer = Preparer(settings, detector)
        self._committed: Checkpoint | None = None  # the last checkpoint Kafka has committed
        self._committing: Checkpoint | None = None  # the one in the last commit begun
        self._rows = (0, 0)  # the byte range of the shard's lines, once the source is open
        self._in_transaction: list[tuple[int, int]] = []  # live: (released_ms, rows) sent
        self._cycle_began = 0.0

    def run(self, progress: Progress) -> Summary:
        started = time.monotonic()
        with open_source(self.options.source, self.settings.gcp_project) as (source, stream):
            header, header_end = read_header(stream)
            check_header(header)
            shard = Source(self.options.shard.name(source.uri), source.size)
            self._rows = self.options.shard.byte_range(stream, header_end, source.size)
            new_producer = partial(
                TransactionalProducer, self.settings.kafka_connection, _transactional_id(shard.uri)
            )
            # Made before the checkpoint is read: its initialisation aborts whatever
            # transaction an earlier run left open, which would hold the read back.
            producer = new_producer()
            checkpoint = self._starting_point(shard, stream, header_end)
            progress.start(self._rows[1] - self._rows[0], checkpoint.offset - self._rows[0])
            first = self._committed = checkpoint
            try:
                checkpoint = self._produce_from(
                    checkpoint, shard, stream, (producer, new_producer), progress
                )
            finally:
                progress.close()
        return Summary(
            source=shard.uri,
            this_run=checkpoint.counts - first.counts,
            total=checkpoint.counts,
            seconds=time.monotonic() - started,
            complete=checkpoint.complete,
            next_line=checkpoint.next_line,
        )

    def _starting_point(self, source: Source, stream: BinaryIO, header_end: int) -> Checkpoint:
        """Where to begin: the saved checkpoint of ``source`` (a whole file, or a shard of
        one), or the start of its lines."""
        saved = None
        if not self.options.from_start:
            saved = load_checkpoint(
                self.settings.kafka_connection, self.settings.checkpoint_topic, source.uri
            )
        if saved is None:
            start = self._rows[0]
            first_line = 2 + count_lines(stream, header_end, start)  # once, then checkpointed
            return Checkpoint(source.uri, source.size, start, first_line, first_line)
        if saved.size != source.size:
            raise SourceChangedError(
                f"{source.uri} has changed since its checkpoint ({saved.size} bytes then, "
                f"{source.size} now); run again with --from-start to produce it anew"
            )
        log.info("resuming", extra={"source": source.uri, "line": saved.next_line})
        return saved

    def _produce_from(
        self,
        checkpoint: Checkpoint,
        source: Source,
        stream: BinaryIO,
        producers: tuple[TransactionalProducer, Callable[[], TransactionalProducer]],
        progress: Progress,
    ) -> Checkpoint:
        """Produce from ``checkpoint``; after a failed transaction, go on from what Kafka
        holds with a new producer (``producers``: the first one, and how to make one)."""
        producer, new_producer = producers
        try:
            if checkpoint.complete:
                log.info("already complete", extra={"source": source.uri})
                return checkpoint
            limit = self.options.limit
            stop_line = None if limit is None else checkpoint.next_line + limit
            failures = 0
            while True:
                try:
                    return self._produce_span(checkpoint, stop_line, stream, producer, progress)
                except TransactionFailedError as error:
                    failures = self._count_failure(error, failures, checkpoint)
                # A request of the failed instance may still be on its way (a late EndTxn
                # could end the next transaction). A new instance's initialisation bumps
                # the producer epoch, so that the brokers refuse the old one's, and
                # settles the failed transaction: Kafka's checkpoint is then the truth.
                producer.abandon()
                self._in_transaction = []  # their payments go again, released anew
                producer = new_producer()
                checkpoint = self._settled_checkpoint(source)
        finally:
            producer.close()

    def _count_failure(
        self, error: TransactionFailedError, failures: int, checkpoint: Checkpoint
    ) -> int:
        """Failures in a row (none if the failed span had committed something), after a
        pause that grows with them; DeliveryError once REDO_ATTEMPTS are spent."""
        metrics.TRANSACTIONS.labels("failed").inc()
        failures = 1 if self._committed != checkpoint else failures + 1
        if failures == REDO_ATTEMPTS:
            raise DeliveryError(f"gave up after {failures} failed transactions: {error}") from error
        log.warning(
            "transaction failed; going on from Kafka's checkpoint with a new producer",
            extra={"error": str(error), "failures": failures},
        )
        time.sleep(min(2**failures, 30))
        return failures

    def _settled_checkpoint(self, source: Source) -> Checkpoint:
        """Where to go on from once the failed transaction is settled: the checkpoint it
        carried if Kafka holds it (the commit landed), else the last one committed."""
        assert self._committed is not None
        held = load_checkpoint(
            self.settings.kafka_connection, self.settings.checkpoint_topic, source.uri
        )
        if held is not None and held == self._committing:
            _count_committed(held.counts - self._committed.counts)  # it landed after all
            self._committed = held
        landed = self._committed is held
        log.info("going on", extra={"line": self._committed.next_line, "commit_landed": landed})
        return self._committed

    def _produce_span(
        self,
        checkpoint: Checkpoint,
        stop_line: int | None,
        stream: BinaryIO,
        producer: TransactionalProducer,
        progress: Progress,
    ) -> Checkpoint:
        """Produce from ``checkpoint`` on, in transactions closed as the pacing says.

        A worker thread reads, parses and cuts the next block (and, unless the run is
        live, makes its parts ready) while this one produces and waits on commits."""
        self._committed = position = checkpoint
        pacing = pacing_for(self.options.speed, self.options.rate, self.options.commit_interval)
        open_rows: int | None = None  # lines in the open transaction; None when none is open
        self._cycle_began = time.time()  # when the last commit began: the interval counts from it
        chunks = read_chunks(stream, checkpoint.offset, checkpoint.first_line, self._rows[1])
        prepare = partial(
            self._prepared,
            span=(checkpoint.next_line, stop_line),
            source=checkpoint.source,
            pacing=pacing,
        )
        with closing(prefetched(map(prepare, chunks))) as prepared_chunks:
            for chunk, items in prepared_chunks:
                for item in items:
                    due = pacing.commit_due(self._cycle_began, pacing.next_release())
                    if open_rows is not None and due:  # before waiting past the interval
                        self._commit(position, producer, progress)
                        open_rows = None
                    ready = self._released(item, pacing, checkpoint.source)
                    if open_rows is None:
                        producer.begin()
                        open_rows = 0
                    position = self._send(ready, chunk, position, producer)
                    open_rows += ready.counts.good + ready.counts.rejected
                    full = open_rows >= self.settings.producer_rows_per_transaction
                    due = pacing.commit_due(self._cycle_began)
                    if pacing.commits_every_part or full or due or self.stop.requested:
                        self._commit(position, producer, progress)
                        open_rows = None
                    if self.stop.requested:
                        return position
                if stop_line is not None and position.next_line >= stop_line:
                    break
            else:
                position = replace(position, complete=True)
        if open_rows is None:
            producer.begin()
        self._commit(position, producer, progress)
        return position

    def _released(self, item: Prepared | Part, pacing: Pacing, source: str) -> Prepared:
        """The item once its time has come: ready already, or made ready now, each record
        stamped with this moment when the run is live."""
        due = pacing.wait_for(item.part if isinstance(item, Prepared) else item)
        if isinstance(item, Prepared):
            return item
        released_ms = int((time.time() if due is None else due) * 1000)
        self._in_transaction.append((released_ms, item.block.num_rows))
        return self.preparer.prepare(item, source, released_ms=released_ms)

    def _prepared(
        self, chunk: Chunk, span: tuple[int, int | None], source: str, pacing: Pacing
    ) -> tuple[Chunk, list[Prepared] | list[Part]]:
        """The chunk's parts between the lines of ``span``, made ready unless the run is live."""
        first_line, stop_line = span
        block = parse_block(chunk.data, chunk.first_line).between(first_line, stop_line)
        end_line = chunk.end_line if stop_line is None else min(chunk.end_line, stop_line)
        parts = list(pacing.cut(block, end_line))
        if not pacing.prepares_ahead:
            return chunk, parts
        return chunk, [self.preparer.prepare(part, source) for part in parts]

    def _send(
        self,
        prepared: Prepared,
        chunk: Chunk,
        position: Checkpoint,
        producer: TransactionalProducer,
    ) -> Checkpoint:
        """Produce a part's records and rejects; return the position after it."""
        producer.send(*prepared.records)
        if rejects := prepared.rejects:
            producer.send(
                [self.settings.rejected_topic] * len(rejects), [None] * len(rejects), rejects
            )
        end_line, counts = prepared.part.end_line, prepared.counts
        if end_line >= chunk.end_line:  # the chunk is done: resume after it
            return position.advanced(chunk.end_offset, chunk.end_line, end_line, counts)
        return position.advanced(chunk.offset, chunk.first_line, end_line, counts)

    def _commit(
        self, position: Checkpoint, producer: TransactionalProducer, progress: Progress
    ) -> None:
        """Write the checkpoint into the open transaction and commit both."""
        self._cycle_began = time.time()
        producer.send(
            [self.settings.checkpoint_topic], [position.source.encode()], [position.to_bytes()]
        )
        self._committing = position
        with metrics.COMMIT_SECONDS.time():
            producer.commit()
        released = (ms for ms, rows in self._in_transaction for _ in range(rows))
        metrics.observe_latency("commit", released)
        self._in_transaction = []
        assert self._committed is not None, "a span starts from a committed checkpoint"
        _count_committed(position.counts - self._committed.counts)
        self._committed = position
        progress.update(position.offset - self._rows[0], position.counts)


def _count_committed(added: Counts) -> None:
    metrics.count_committed(added.good, added.rejected, added.fraud, added.non_fraud)


def _transactional_id(source_uri: str) -> str:
    return TRANSACTIONAL_ID_PREFIX + hashlib.sha256(source_uri.encode()).hexdigest()[:16]
