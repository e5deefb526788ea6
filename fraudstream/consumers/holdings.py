"""What a member holds of each partition it owns, from the moment the group hands the
partition over until it takes it back: the lake batch gathering, what a redo must heed
(``recovery``), and the batch in hand."""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, Message, TopicPartition
from google.cloud import storage

from fraudstream import kafka
from fraudstream.consumers.buffer import BatchBuffer, Partition
from fraudstream.consumers.gathering import LakeBatch
from fraudstream.consumers.notes import CommitNotes
from fraudstream.consumers.recovery import Recovery, recover
from fraudstream.consumers.retry import Waiter, until_done
from fraudstream.consumers.sinks import BatchInHand, LakeWriter
from fraudstream.storage import lake
from fraudstream.storage.batches import ndjson_line
from fraudstream.topology import LakeFolder

log = logging.getLogger("fraudstream.consumer")


class Holdings:
    """Kept per partition as the group gives and takes them."""

    def __init__(
        self,
        bucket: storage.Bucket,
        folder: LakeFolder,
        buffer: BatchBuffer[Message],
        uploads: LakeWriter,
        notes: CommitNotes,
    ) -> None:
        self.bucket, self.folder, self.buffer, self.uploads = bucket, folder, buffer, uploads
        self.notes = notes
        self.gathering: dict[Partition, LakeBatch] = {}
        self.recovered: dict[Partition, Recovery] = {}
        self.in_hand: BatchInHand | None = None

    def heeded(self, partition: Partition) -> Recovery:
        """What the partition's redo, if there is one, must heed."""
        return self.recovered.get(partition) or Recovery()

    def forget(self, partition: Partition) -> None:
        """Drop what was gathered or recovered of ``partition``."""
        self.gathering.pop(partition, None)
        self.recovered.pop(partition, None)

    def written(self, partition: Partition, last_offset: int) -> None:
        """The partition's lake batch, up to ``last_offset``, is in the lake."""
        self.gathering.pop(partition, None)
        left = self.recovered.pop(partition, Recovery()).past(last_offset)
        if left is not None:  # the note of the emails sent reaches further
            self.recovered[partition] = left

    def check_in_hand(self) -> None:
        """OwnershipLostError if the partition of the batch in hand was revoked since the
        batch was taken, even if it has been assigned to this member again since."""
        held = self.in_hand
        if held is not None and self.buffer.assignment(held.partition) != held.assignment:
            raise kafka.OwnershipLostError(f"{held.partition}: revoked while its batch was in hand")

    def take_over_all(
        self, consumer: Consumer, partitions: list[TopicPartition], waiter: Waiter
    ) -> tuple[list[TopicPartition], list[TopicPartition]]:
        """``take_over`` each of ``partitions``, just assigned: each with the offset to start
        at, and those whose offset is worth committing at once."""
        unavailable = (kafka.KafkaUnavailableError,)
        committed = until_done(
            lambda: kafka.committed(consumer, partitions), "committed offsets", waiter, unavailable
        )
        ends = until_done(
            lambda: kafka.end_offsets(consumer, partitions), "end offsets", waiter, unavailable
        )
        moved = [
            tp for tp in committed if self.take_over(tp, ends[(tp.topic, tp.partition)], waiter)
        ]
        return committed, moved

    def take_over(self, tp: TopicPartition, end: int, waiter: Waiter) -> bool:
        """Own ``tp`` from where the lake says, not only where the commit says (its offset
        is moved to there); ``end`` is the partition's end offset. True when that offset is
        worth committing at once: the lake's batches moved it on (a group rewound by
        ``fraudstream replay``) and no note of emails sent is carried past it."""
        partition = (tp.topic, tp.partition)
        through = self.notes.read(partition, tp.offset, tp.metadata, end)
        found = until_done(
            lambda: recover(self.bucket, self.folder, partition, tp.offset, through, end=end),
            "lake recovery",
            waiter,
            (lake.StorageUnavailableError,),
        )
        self.forget(partition)
        self.buffer.assign(partition, found.replay_until)
        self.recovered[partition] = found
        moved = found.resume_offset is not None and found.resume_offset != tp.offset
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
                "emailed_through": found.emailed_through,
            },
        )
        return moved and found.emailed_through is None

    def give_back(self, revoked: set[Partition]) -> None:
        """What went out of the ``revoked`` partitions reaches the lake, then they are
        forgotten. For the batch in hand: the upload under way ends, or else the emails
        sent so far are logged. For a lake batch gathering: the email log of its slices.
        Their next owner then sends none of them again and keeps their entries. (The
        uploads' retries sleep: no polling meanwhile.)"""
        held = self.in_hand
        if held is not None and held.partition in revoked:
            held.settle(self.uploads)
        for partition in revoked:
            gathered = self.gathering.get(partition)
            in_hand = held is not None and held.partition == partition
            if gathered is not None and gathered.entries and not in_hand:
                entries = gathered.log_with(self.heeded(partition).sent)
                name = gathered.key().object_name(LakeFolder.EMAIL_LOG)
                self.uploads.write(name, [ndjson_line(entry) for entry in entries])
            self.buffer.revoke(partition)
            self.forget(partition)
