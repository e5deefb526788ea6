"""A partition taken away while its batch is in hand: the batch is dropped, even when the
partition comes straight back, and what of it went out reaches the lake before the revoke
returns. A batch's last commit that Kafka refuses is sent again. The loop runs on
in-process stand-ins for Kafka, the lake and the mailer."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from fraudstream import kafka
from fraudstream.consumers.clients import ConsumerClients
from fraudstream.consumers.email_sending import EmailJob
from fraudstream.consumers.loop import BatchConsumer
from fraudstream.consumers.notes import CommitNotes
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import load_settings
from fraudstream.storage.batches import BatchKey
from fraudstream.topology import LakeFolder
from tests.fakes import MemoryBucket

TOPIC = "payments"
PARTITION = (TOPIC, 0)
NOTE_KEY = secrets.token_urlsafe(32)


def _sealed(committed: int, emailed_through: int) -> str:
    """The note the member commits at ``committed``: emailed up to ``emailed_through``."""
    return CommitNotes(NOTE_KEY.encode(), "group").write(PARTITION, committed, emailed_through)


Rebalance = Callable[[Any, list[TopicPartition]], None]


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return str(self._offset).encode()

    def key(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def error(self) -> None:
        return None


class _Consumer:
    """Commits that can be made to time out, and a rebalance played at the next poll."""

    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []
        self.commits: list[int] = []
        self.waited: list[bool] = []  # for each commit, whether it was waited for
        self.notes: list[str | None] = []  # and its metadata
        self.unanswered: list[list[TopicPartition]] = []  # commits sent without blocking
        self.replies = kafka.CommitReplies()  # the member's on_commit
        self.timeouts = 0  # the next commits that time out
        self.lost = 0  # the next commits lost on the way: neither taken nor answered
        self.plays: list[Callable[[], None] | None] = []  # what each next poll plays, in turn
        self.on_assign: Rebalance | None = None
        self.on_revoke: Rebalance | None = None

    def subscribe(
        self, _topics: list[str], on_assign: Rebalance, on_revoke: Rebalance, on_lost: Rebalance
    ) -> None:
        self.on_assign, self.on_revoke = on_assign, on_revoke

    def rebalance_to_this_member_again(self) -> None:
        """The session was lost and the member rejoined: revoked, then the same partition."""
        assert self.on_revoke is not None and self.on_assign is not None
        self.on_revoke(self, list(self.assigned))
        self.on_assign(self, [TopicPartition(TOPIC, 0)])

    def poll(self, _timeout: float) -> None:
        self._play()

    def consume(self, _count: int, timeout: float) -> list[Any]:
        self._play()
        time.sleep(min(timeout, 0.05))  # nothing comes: a short wait stands for the long one
        return []

    def _play(self) -> None:
        play = self.plays.pop(0) if self.plays else None
        if play is not None:
            play()
        answered, self.unanswered = self.unanswered, []
        for offsets in answered:  # Kafka's replies, served by the poll
            self.replies(None, offsets)

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.timeouts:
            self.timeouts -= 1
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True))
        if self.lost:
            self.lost -= 1
            return
        self.commits.append(offsets[0].offset)
        self.waited.append(not asynchronous)
        self.notes.append(offsets[0].metadata)
        if asynchronous:
            self.unanswered.append(offsets)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        last = self.commits[-1] if self.commits else -1001
        note = self.notes[-1] if self.notes else None
        if not note:
            return [TopicPartition(tp.topic, tp.partition, last) for tp in partitions]
        return [TopicPartition(tp.topic, tp.partition, last, metadata=note) for tp in partitions]

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, 1_000_000  # far past any offset a test commits

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def assignment(self) -> list[TopicPartition]:
        return self.assigned

    def pause(self, _partitions: list[TopicPartition]) -> None:
        pass

    def resume(self, _partitions: list[TopicPartition]) -> None:
        pass

    def close(self) -> None:
        pass


class _Mailer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def deliver(
        self, jobs: Iterable[EmailJob], _waiter: object, finished: Callable[[dict[str, Any]], None]
    ) -> list[dict[str, Any]]:
        entries = []
        for job in jobs:
            self.sent.append(job.transaction_id)
            sent = {"transaction_id": job.transaction_id, "status": "sent", "attempts": 1}
            entries.append({**sent, **job.source})  # as the real one: the record's whereabouts
            finished(entries[-1])
        return entries

    def close(self) -> None:
        pass


class _Handler:
    folder = LakeFolder.TRANSACTIONS
    template = "transaction_notification"
    topic, group = TOPIC, "group"

    def email(self, transaction: dict[str, Any], source: dict[str, Any]) -> EmailJob:
        return EmailJob(transaction["transaction_id"], self.template, cast(Any, None), source)

    def lake_record(self, transaction: dict[str, Any]) -> dict[str, Any]:
        return transaction


class _Decoder:
    def decode(self, value: bytes) -> dict[str, Any]:
        return {"transaction_id": f"t{value.decode()}"}


class _Producer:
    def flush(self, _timeout: float) -> int:
        return 0


def _member(
    consumer: _Consumer | None = None, bucket: MemoryBucket | None = None, **settings_: Any
) -> tuple[BatchConsumer, _Consumer, MemoryBucket, _Mailer]:
    """A member given the partition, on ``consumer`` and ``bucket`` if given (another
    member's, to take over from it)."""
    defaults = {
        "batch_max_records": 3,
        "retry_first_seconds": 0.01,
        "retry_max_seconds": 0.01,
        "consumer_note_key": NOTE_KEY,
    }
    settings = load_settings(**{**defaults, **settings_})
    consumer, bucket, mailer = consumer or _Consumer(), bucket or MemoryBucket(), _Mailer()
    clients = ConsumerClients(
        cast(Any, consumer),
        cast(Any, _Producer()),
        cast(Any, bucket),
        cast(Any, mailer),
        cast(Any, _Decoder()),
        consumer.replies,
    )
    member = BatchConsumer(settings, cast(Any, _Handler()), clients, StopFlag())
    consumer.subscribe([TOPIC], member._on_assign, member._on_revoke, member._on_revoke)
    consumer.on_assign(consumer, [TopicPartition(TOPIC, 0)])  # type: ignore[misc]
    return member, consumer, bucket, mailer


def _take(member: BatchConsumer, offsets: range) -> None:
    for offset in offsets:
        member._take(cast(Any, _Message(offset)))


def test_a_batch_whose_partition_came_back_during_its_owner_check_sends_nothing() -> None:
    """The owner check times out; in its retry's pause the member loses the partition and
    is given it again. The check would pass now, but the batch in hand is of the old
    assignment: it is dropped, and the new one reads the records again."""
    member, consumer, bucket, mailer = _member()
    _take(member, range(3))
    consumer.timeouts = 1
    consumer.plays = [consumer.rebalance_to_this_member_again]  # in the retry's pause
    member._finish_due(everything=True)

    assert mailer.sent == [] and bucket.objects == {} and consumer.commits == []
    assert member.buffer.owns(PARTITION) and len(member.buffer) == 0

    _take(member, range(3))  # read again by the new assignment
    member._finish_due(everything=True)
    assert mailer.sent == ["t0", "t1", "t2"] and consumer.commits == [0, 0, 3]
    assert consumer.notes == [None, _sealed(0, 2), None]


def test_a_partition_revoked_while_its_email_log_is_uploaded_recovers_with_that_log() -> None:
    """The revoke waits for the upload under way, so that the next assignment's recovery
    finds the email log and does not send those emails again."""
    member, consumer, bucket, mailer = _member()
    bucket.upload_seconds = 0.3
    _take(member, range(3))
    # Polls: the owner check's reply, the note's, then the upload of the email log.
    consumer.plays = [None, None, consumer.rebalance_to_this_member_again]
    member._finish_due(everything=True)

    email_log = BatchKey(TOPIC, 0, 0, 2).object_name(LakeFolder.EMAIL_LOG)
    assert mailer.sent == ["t0", "t1", "t2"] and email_log in bucket.objects
    # The owner check, then the note of the emails sent: never past the batch's first offset.
    assert consumer.commits == [0, 0], "the batch of the old assignment is not committed"

    _take(member, range(3))
    member._finish_due(everything=True)
    assert mailer.sent == ["t0", "t1", "t2"], "an email went out twice"
    assert consumer.commits == [0, 0, 0, 3]


def test_a_partition_revoked_between_email_retries_logs_the_emails_sent_so_far() -> None:
    """SMTP refuses the last email; in the retry's pause the partition goes. The emails
    that went out are in the lake's email log before the revoke returns."""
    member, consumer, bucket, mailer = _member()
    refused = threading.Event()

    def deliver(
        jobs: Iterable[EmailJob], waiter: Any, finished: Callable[[dict[str, Any]], None]
    ) -> list[dict[str, Any]]:
        for job in list(jobs)[:2]:
            mailer.sent.append(job.transaction_id)
            finished({"transaction_id": job.transaction_id, "status": "sent", "attempts": 1})
        refused.set()
        waiter.after_failure("1 emails", 1, ConnectionError("no SMTP"), cause="smtp")
        raise AssertionError("the batch went on after its partition was revoked")

    member.emails.mailer.deliver = deliver  # type: ignore[union-attr,method-assign]
    _take(member, range(3))

    def revoke() -> None:
        consumer.on_revoke(consumer, list(consumer.assigned))  # type: ignore[misc]

    consumer.plays = [None, revoke]  # the owner check's reply, then the retry's pause
    member._finish_due(everything=True)

    assert refused.is_set() and not member.buffer.owns(PARTITION)
    email_log = bucket.objects[BatchKey(TOPIC, 0, 0, 2).object_name(LakeFolder.EMAIL_LOG)]
    assert [json.loads(line)["transaction_id"] for line in email_log.splitlines()] == ["t0", "t1"]


def _refuse(member: BatchConsumer, next_offset: int) -> None:
    """Kafka's reply to a commit not waited for: refused, its group coordinator moving."""
    replies = member.clients.commit_replies
    assert replies is not None
    replies(KafkaError(KafkaError.NOT_COORDINATOR), [TopicPartition(TOPIC, 0, next_offset)])


def test_a_refused_last_commit_is_sent_again_and_a_stop_waits_for_it() -> None:
    """No record may come to cover a partition's last commit: refused, it is sent again at
    the next step; a refusal of an older one is not (it would move the offset back); a
    stop waits for the last."""
    member, consumer, _bucket, _mailer = _member()
    _take(member, range(3))
    member._finish_due(everything=True)
    assert (consumer.commits[-1], consumer.waited[-1]) == (3, False)

    _refuse(member, 3)
    member._step()
    assert (consumer.commits[-2:], consumer.waited[-1]) == ([3, 3], False)

    _take(member, range(3, 6))
    member._finish_due(everything=True)
    _refuse(member, 3)  # a late reply about the batch before
    member._step()
    assert consumer.commits[-1] == 6

    sent = len(consumer.commits)
    member._finish_all()
    assert consumer.commits[sent:] == [6], "the stop sends the last commit again and waits"


def test_a_refused_commit_of_a_revoked_partition_is_left_to_its_next_owner() -> None:
    member, consumer, _bucket, _mailer = _member()
    _take(member, range(3))
    member._finish_due(everything=True)
    consumer.on_revoke(consumer, list(consumer.assigned))  # type: ignore[misc]
    _refuse(member, 3)
    member._step()
    member._finish_all()
    assert consumer.commits == [0, 0, 3]


def _slices(member: BatchConsumer, offsets: range) -> None:
    """Take ``offsets`` and let their slice fall due (EMAIL_MAX_SECONDS is 10 ms here)."""
    _take(member, offsets)
    time.sleep(0.02)
    member._finish_due(everything=False)


def _log_of(bucket: MemoryBucket) -> list[dict[str, Any]]:
    logs = [name for name in bucket.objects if name.startswith(LakeFolder.EMAIL_LOG)]
    return [json.loads(line) for name in logs for line in bucket.objects[name].splitlines()]


GATHERING: dict[str, Any] = {
    "batch_max_records": 100,
    "batch_max_seconds": 60,
    "email_max_seconds": 0.01,
}


def test_emails_go_out_by_slice_while_the_lake_batch_gathers() -> None:
    """Each slice's emails go as it falls due, noted in the commit; the lake batch is
    written, with the whole email log, when it falls due itself."""
    member, consumer, bucket, mailer = _member(**GATHERING)
    _slices(member, range(2))
    _slices(member, range(2, 5))
    assert mailer.sent == ["t0", "t1", "t2", "t3", "t4"] and bucket.objects == {}
    assert set(consumer.commits) == {0} and consumer.notes[-1] == _sealed(0, 4)

    member._finish_all()
    key = BatchKey(TOPIC, 0, 0, 4)
    assert set(bucket.objects) == {
        key.object_name(f) for f in (LakeFolder.EMAIL_LOG, LakeFolder.TRANSACTIONS)
    }
    assert [entry["transaction_id"] for entry in _log_of(bucket)] == mailer.sent
    assert consumer.commits[-1] == 5 and consumer.notes[-1] is None


def test_a_member_taking_over_after_a_crash_sends_none_of_what_the_note_says_went() -> None:
    """The first member dies after two slices: nothing in the lake. The next sends only
    the emails past the note, and logs the others as sent by an earlier owner."""
    first, consumer, bucket, _ = _member(**GATHERING)
    _slices(first, range(2))
    _slices(first, range(2, 4))

    member, _, _, mailer = _member(consumer, bucket, **GATHERING)
    _take(member, range(6))  # read again from the committed offset
    member._finish_all()

    assert mailer.sent == ["t4", "t5"]
    entries = _log_of(bucket)
    assert [e["transaction_id"] for e in entries] == [f"t{n}" for n in range(6)]
    assert ["note" in entry for entry in entries] == [True] * 4 + [False] * 2


def test_the_note_is_heeded_past_the_first_lake_batch_of_the_redo() -> None:
    first, consumer, bucket, _ = _member(**GATHERING)
    _slices(first, range(5))

    member, _, _, mailer = _member(consumer, bucket, batch_max_records=2)
    _take(member, range(6))  # lake batches of 2: the note reaches into the third
    member._finish_all()
    assert mailer.sent == ["t5"]


def test_a_partition_revoked_while_its_lake_batch_gathers_leaves_the_log_of_its_slices() -> None:
    """Revoked between slices: the email log of what went out reaches the lake before the
    revoke returns, so its next owner keeps those entries and sends none of them again."""
    member, consumer, bucket, mailer = _member(**GATHERING)
    _slices(member, range(3))
    consumer.on_revoke(consumer, list(consumer.assigned))  # type: ignore[misc]
    assert [e["transaction_id"] for e in _log_of(bucket)] == ["t0", "t1", "t2"]

    consumer.on_assign(consumer, [TopicPartition(TOPIC, 0)])  # type: ignore[misc]
    _take(member, range(5))
    member._finish_all()
    assert mailer.sent == ["t0", "t1", "t2", "t3", "t4"], "an email went out twice"
    # The redo's lake batch ends where the log left at the revoke does, and replaces it.
    assert [e["transaction_id"] for e in _log_of(bucket)] == [f"t{n}" for n in range(5)]
    assert not any("note" in entry for entry in _log_of(bucket))


def test_a_note_not_in_kafka_in_time_has_the_lake_batch_written_at_once() -> None:
    """Out of its coordinator's reach, the member may soon lose the partition to another,
    which would read the last note that got through. So the lake batch, with its email
    log, is written at once, and the next owner sends none of those emails again."""
    first, consumer, bucket, _ = _member(**GATHERING)
    first.slices.note_reply_seconds = 0.05
    _slices(first, range(2))
    consumer.lost = 2  # the second slice's note, then the lake batch's commit
    _slices(first, range(2, 4))
    key = BatchKey(TOPIC, 0, 0, 3)
    assert set(bucket.objects) == {
        key.object_name(f) for f in (LakeFolder.EMAIL_LOG, LakeFolder.TRANSACTIONS)
    }
    assert consumer.notes[-1] == _sealed(0, 1), "Kafka has the first slice's note only"

    member, _, _, mailer = _member(consumer, bucket, **GATHERING)
    _take(member, range(4, 6))  # read from where the lake says
    member._finish_all()
    assert mailer.sent == ["t4", "t5"], "an email went out twice"


class _Backlog(_Consumer):
    """A topic far behind: each fetch returns ``count`` more records at once, until
    ``left`` run out, unless fetching is paused. As in librdkafka, a pause is the
    partition's, and an assignment keeps it."""

    def __init__(self, left: int) -> None:
        super().__init__()
        self.left, self.next_offset = left, 0
        self.paused: set[int] = set()

    def consume(self, count: int, _timeout: float) -> list[Any]:
        self._play()
        if PARTITION[1] in self.paused or not self.assigned:
            time.sleep(0.005)
            return []
        given = [_Message(self.next_offset + i) for i in range(min(count, self.left))]
        self.next_offset, self.left = self.next_offset + len(given), self.left - len(given)
        return given

    def poll(self, timeout: float) -> Any:
        given = self.consume(1, timeout)
        return given[0] if given else None

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {tp.partition for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {tp.partition for tp in partitions}


class _LostWhilePaused(_Backlog):
    """The member's session is lost while fetching is paused for a full buffer: the
    partition is revoked at the next poll, so the wait ends with it away."""

    def pause(self, partitions: list[TopicPartition]) -> None:
        super().pause(partitions)
        if not self.plays:
            self.plays.append(self.lose_session)

    def lose_session(self) -> None:
        assert self.on_revoke is not None
        self.on_revoke(self, list(self.assigned))
        self.assigned = []


def test_a_backlog_fetched_during_uploads_is_held_to_five_lake_batches_at_most() -> None:
    """Fetching goes on while a lake batch uploads, so that the next gathers; a backlog
    then comes in faster than emails go out. What the loop holds stays within five lake
    batches' worth (and one fetch), however long the backlog: not five more at each upload."""
    backlog = _Backlog(left=20_000)
    member, _, bucket, mailer = _member(
        backlog, batch_max_records=100, batch_max_seconds=60, email_max_seconds=0.01
    )
    bucket.upload_seconds = 0.01
    held: list[int] = []
    take_all = member._take_all

    def counted(messages: list[Any]) -> None:
        take_all(messages)
        held.append(len(member.buffer))

    member._take_all = counted  # type: ignore[method-assign]
    _take(member, range(100))
    backlog.next_offset = 100
    while backlog.left or len(member.buffer):
        member._step()
    assert max(held) <= 5 * 100 + 1000 + 500  # the room, a step's fetch and a wait's over it
    assert len(mailer.sent) == len(set(mailer.sent)) == 20_100


def test_a_partition_taken_away_while_fetching_is_paused_is_fetched_when_it_comes_back() -> None:
    """The buffer is full during an upload, so fetching pauses; the session is lost
    meanwhile, and the wait ends with the partition away, so nothing resumes it. Given
    back, it is fetched again: a pause does not outlive the assignment it was made in
    (the client would keep it, and the partition would be read by no one)."""
    backlog = _LostWhilePaused(left=20_000)
    member, _, bucket, _ = _member(
        backlog, batch_max_records=100, batch_max_seconds=60, email_max_seconds=0.01
    )
    bucket.upload_seconds = 0.05
    _take(member, range(100))
    backlog.next_offset = 100
    while backlog.assigned:
        member._step()
    assert backlog.paused, "the partition went while fetching was paused"

    backlog.on_assign(backlog, [TopicPartition(TOPIC, 0)])  # type: ignore[misc]
    fetched_before = backlog.next_offset
    for _ in range(3):
        member._step()
    assert backlog.next_offset > fetched_before, "the partition came back paused"
