"""A slice of a partition's records, taken by its owner: the emails sent at once, the lines
and dead letters kept in the lake batch the slice joins.

Emails cannot be taken back, so a slice's go out only once a commit has shown that the
group still counts this member as the partition's owner; after them, a commit notes the
last offset emailed, so a member taking over after a crash sends none of them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from confluent_kafka import Message

from fraudstream.consumers import sinks
from fraudstream.consumers.buffer import BatchBuffer, Partition
from fraudstream.consumers.commits import Committer
from fraudstream.consumers.decoding import Decoded, decode_batch
from fraudstream.consumers.gathering import LakeBatch
from fraudstream.consumers.handlers import Handler
from fraudstream.consumers.holdings import Holdings
from fraudstream.consumers.notes import CommitNotes
from fraudstream.consumers.retry import Waiter
from fraudstream.consumers.totals import (
    Totals,
    count_batch_metrics,
    live_times,
    observe_email_latency,
)
from fraudstream.paysim.avro_codec import RecordDecoder
from fraudstream.storage.batches import BatchKey
from fraudstream.topology import LakeFolder

SLICE_MAX_EMAILS = 1_000  # a slice's records at most: a crash re-sends no more emails
OWNER_CHECK_SECONDS = 0.5  # a commit this recent shows the member owns the partition
# A note of the emails sent not in Kafka this soon: the lake batch is written at once. Well
# within a session (10 s), which a member out of its coordinator's reach may soon lose.
NOTE_REPLY_SECONDS = 2.0


@dataclass
class SliceTaker:
    """Takes the slices of one consumer's partitions (the loop hands them over when due)."""

    handler: Handler
    decoder: RecordDecoder
    buffer: BatchBuffer[Message]
    holdings: Holdings
    committer: Committer
    emails: sinks.CustomerEmails | None  # None: a consumer that only writes the lake
    dead_letters: sinks.DeadLetters
    waiter: Waiter
    totals: Totals
    notes: CommitNotes
    note_reply_seconds: float = NOTE_REPLY_SECONDS

    def take(self, partition: Partition, batch: list[Message]) -> None:
        """Email a slice of the partition's records, then keep what goes to the lake."""
        started, first, last = time.monotonic(), batch[0].offset() or 0, batch[-1].offset() or 0
        gathered = self.holdings.gathering.get(partition) or LakeBatch(
            partition, first, self.holdings.heeded(partition).emailed_through
        )
        held = self.holdings.in_hand = sinks.BatchInHand(
            partition,
            self.buffer.assignment(partition),
            BatchKey(*partition, gathered.first_offset, last).object_name(LakeFolder.EMAIL_LOG),
        )
        decoded = decode_batch({self.handler.topic: self.decoder}, batch, self.waiter)
        if self.emails is not None and not gathered.committed_within(OWNER_CHECK_SECONDS):
            # A member cut from the coordinator may not know yet that another took over.
            # The commit moves nothing and keeps the note of what was emailed already. The
            # last slice's commit, if that recent, showed the same.
            self._commit_emailed(gathered)
        emailed = self._send_emails(held, gathered, decoded)
        lines, dead = self._lake_lines(decoded, emailed)
        self.dead_letters.send(dead)
        live = live_times(decoded.records)
        gathered.add_slice(
            last, taken=len(batch), lines=lines, entries=emailed.entries, dead=len(dead), live=live
        )
        self.holdings.gathering[partition] = gathered
        if emailed.new_entries:  # say so now: a redo after a crash sends none of them again
            gathered.emailed_through = last
            gathered.write_now = not self._noted(gathered)
        self.totals.add_slice(len(lines), len(dead), emailed)
        count_batch_metrics(self.handler.group, started, len(dead), emailed)
        observe_email_latency(self.handler.folder, decoded.records, emailed, live)

    def _commit_emailed(self, gathered: LakeBatch) -> None:
        """Commit the lake batch's first offset, noting how far its emails are done."""
        sent_at, note = time.monotonic(), self._note(gathered)
        self.committer.commit(gathered.partition, gathered.first_offset, metadata=note)
        self.holdings.check_in_hand()  # the group may have moved it while the reply came
        gathered.committed_at = sent_at  # a late reply shows the member owned it back then

    def _noted(self, gathered: LakeBatch) -> bool:
        """Whether the note of the emails sent is in Kafka within ``note_reply_seconds``.

        If not (its coordinator out of reach, say), the group may soon count this member
        out and give the partition to another, which reads the note to know what went.
        The slice's lake batch is then written at once instead (the lake is another
        service): its email log tells the next owner, well before the member's session
        can run out."""
        partition, first, sent_at = gathered.partition, gathered.first_offset, time.monotonic()
        noted = self.committer.try_commit(
            partition, first, self._note(gathered), self.note_reply_seconds
        )
        self.holdings.check_in_hand()  # the group may have moved it while the reply came
        if noted:
            gathered.committed_at = sent_at
        return noted

    def _note(self, gathered: LakeBatch) -> str | None:
        """The commit's note of how far the lake batch's emails are done, if any are."""
        through = gathered.emailed_through
        if through is None:
            return None
        return self.notes.write(gathered.partition, gathered.first_offset, through)

    def _send_emails(
        self, held: sinks.BatchInHand, gathered: LakeBatch, decoded: Decoded
    ) -> sinks.EmailOutcome:
        if self.emails is None:
            return sinks.EmailOutcome()
        heeded = self.holdings.heeded(held.partition)
        logged = sinks.sent_before(
            self.handler.template,
            held.partition,
            (decoded.records, decoded.offsets),
            heeded.emailed_through,
            heeded.sent,
        )
        # Drafts are written whoever owns the partition now: the emails they log went out.
        held.draft = draft = sinks.EmailLogDraft(partial(gathered.log_with, logged))
        return self.emails.send(held.partition, decoded.records, decoded.offsets, logged, draft.add)

    def _lake_lines(
        self, decoded: Decoded, emailed: sinks.EmailOutcome
    ) -> tuple[list[bytes], list[sinks.DeadLetter]]:
        """The slice's lines for the lake, and its dead letters: what could not be decoded,
        and the records the handler raised on."""
        failed = {i for i, _ in emailed.failed}
        lines, unfit = sinks.lake_lines(self.handler, decoded.records, skip=failed)
        unhandled = emailed.failed + unfit
        return lines, decoded.dead + [
            sinks.DeadLetter(decoded.messages[i], why) for i, why in unhandled
        ]
