"""The last step of a batch: its partition's offset committed, Kafka's refusals sent again."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from functools import partial

from confluent_kafka import Consumer, TopicPartition

from fraudstream import kafka
from fraudstream.consumers.buffer import Partition
from fraudstream.consumers.retry import StopWhileRetryingError, Waiter, until_done


class Committer:
    """Commits a partition's next offset; ``OwnershipLostError`` if it moved to another member.

    A commit not waited for that Kafka refuses (its coordinator moving, say) is sent
    again by ``resend_refused`` while it is still its partition's last; ``settle`` waits
    for each partition's last one when the consumer stops.
    """

    def __init__(
        self,
        consumer: Consumer,
        waiter: Waiter,
        replies: kafka.CommitReplies | None = None,
        serve: Callable[[float], None] | None = None,
    ) -> None:
        """With ``replies`` (the consumer's ``on_commit``) and ``serve`` (goes on polling
        for the given seconds), a commit waited for is sent without blocking and its
        reply awaited while polling (``kafka.commit_serving``)."""
        self.consumer, self.waiter, self.replies, self.serve = consumer, waiter, replies, serve
        self.unsettled: dict[Partition, int] = {}  # the last offset sent without waiting

    def commit(
        self,
        partition: Partition,
        next_offset: int,
        *,
        wait: bool = True,
        metadata: str | None = None,
    ) -> None:
        """With ``wait=False``, only what the client refuses at once is raised here; a
        reply that refuses it is logged and kept (``kafka.CommitReplies``)."""
        until_done(
            partial(self._send, partition, next_offset, wait, metadata),
            "offset commit",
            self.waiter,
            (kafka.KafkaUnavailableError,),
        )
        if not wait:
            self.unsettled[partition] = next_offset
        else:
            self._took(partition, next_offset)

    def try_commit(
        self, partition: Partition, next_offset: int, metadata: str | None, reply_within: float
    ) -> bool:
        """One waited commit, not retried: whether Kafka took it within ``reply_within``
        seconds (``OwnershipLostError`` if it refused it: the partition moved)."""
        try:
            self._send(partition, next_offset, True, metadata, reply_within)
        except kafka.KafkaUnavailableError:
            return False
        self._took(partition, next_offset)
        return True

    def _took(self, partition: Partition, next_offset: int) -> None:
        """Kafka took a waited commit: one not waited for before it is settled with it."""
        if self.unsettled.get(partition, -1) <= next_offset:
            self.unsettled.pop(partition, None)

    def _send(
        self,
        partition: Partition,
        next_offset: int,
        wait: bool,
        metadata: str | None,
        reply_within: float = kafka.COMMIT_REPLY_SECONDS,
    ) -> None:
        if wait and self.replies is not None and self.serve is not None:
            where = (*partition, next_offset)
            kafka.commit_serving(
                self.consumer, self.replies, where, metadata, self.serve, reply_seconds=reply_within
            )
        else:
            kafka.commit(self.consumer, *partition, next_offset, wait=wait, metadata=metadata)

    def resumed(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit, not waiting, the offset each of ``partitions`` resumes from; a stop or a
        partition gone meanwhile leaves it to the partition's next commit."""
        for tp in partitions:
            with suppress(StopWhileRetryingError, kafka.OwnershipLostError):
                self.commit((tp.topic, tp.partition), tp.offset, wait=False)

    def resend_refused(self, owned: Callable[[Partition], bool]) -> None:
        """Send again each refused commit that is still the last of a partition ``owned``."""
        refused = self.replies.take_refused() if self.replies else {}
        for partition, next_offset in refused.items():
            if self.unsettled.get(partition) == next_offset and owned(partition):
                self._quietly(partition, next_offset, wait=False)

    def settle(self, owned: Callable[[Partition], bool]) -> None:
        """Wait for the last commit of each partition still ``owned``."""
        for partition, next_offset in list(self.unsettled.items()):
            if owned(partition):
                self._quietly(partition, next_offset, wait=True)
        self.unsettled.clear()

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Revoked: their next owner starts from the lake, whatever was committed."""
        for partition in partitions:
            self.unsettled.pop(partition, None)

    def _quietly(self, partition: Partition, next_offset: int, *, wait: bool) -> None:
        with suppress(kafka.OwnershipLostError):  # its next owner recovers from the lake
            self.commit(partition, next_offset, wait=wait)
