"""Rewinding a stopped consumer group (``fraudstream replay``), so that its consumer, started
again, reads its topics again from their start or from a moment.

What a consumer does with what it reads again is its own exactly-once rule:

- the case consumer upserts: it rebuilds the case table (a new database, rows removed) and
  changes nothing that is there already;
- an email consumer resumes after the batches the lake holds, so it reads again only what
  is missing there, and sends no email its email log records. Its group is moved to the
  first offset of a lake batch, never inside one; and a replay is refused while the lake
  lacks more than one emailed batch of a partition (a folder removed by hand), since the
  consumer heeds only the first such batch's email log and would email the rest again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from fraudstream import kafka
from fraudstream.consumers.recovery import emailed_but_unwritten, lake_batches
from fraudstream.errors import FraudstreamError
from fraudstream.reporting.facts import KAFKA_TIMEOUT, consumer_groups
from fraudstream.settings.config import ConfigError, Settings
from fraudstream.storage import lake
from fraudstream.storage.batches import BatchKey
from fraudstream.topology import LakeFolder
from fraudstream.wiring import factory

Say = Callable[[str], None]
REPLAY_GROUP = "fraudstream-replay"  # names the offset reader; it assigns and commits nothing


class GroupRunningError(FraudstreamError):
    """The group has members: Kafka moves a group's offsets only while it is empty."""


@dataclass(frozen=True)
class Move:
    topic: str
    partition: int
    committed: int | None  # None: nothing committed
    to: int

    def line(self) -> str:
        was = "nothing committed" if self.committed is None else f"{self.committed:,}"
        return f"  {self.topic}[{self.partition}]  {was} -> {self.to:,}"


def replay(
    settings: Settings, group: str, since: datetime | None, dry_run: bool, say: Say = print
) -> list[Move]:
    """Move ``group``'s committed offsets to each partition's start, or to its first record
    at or after ``since``; with ``dry_run``, only say where."""
    topics, folder = _declared(settings, group)
    admin = AdminClient(kafka.client_config(settings.kafka_connection))
    kafka.require_reachable(admin, settings.kafka_connection, timeout=5)  # one line, no traceback
    _require_stopped(admin, group)
    moves = _planned(settings, admin, (group, topics), since)
    if folder is not None:
        moves = _on_batch_starts(settings, folder, moves)
    for move in moves:
        say(move.line())
    if dry_run:
        say(f"{group}: nothing moved (--dry-run)")
        return moves
    request = [TopicPartition(m.topic, m.partition, m.to) for m in moves]
    done = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, request)])
    try:
        done[group].result(timeout=KAFKA_TIMEOUT)
    except KafkaException as refused:  # a member joined since: the group is not empty
        raise GroupRunningError(f"{group}: Kafka refused the move: {refused}") from refused
    say(f"{group}: moved; {_what_follows(folder)}")
    return moves


def _declared(settings: Settings, group: str) -> tuple[list[str], LakeFolder | None]:
    """The topics ``group`` reads, and the lake folder its consumer writes (None: none)."""
    if group == settings.cases_consumer_group:
        return [settings.fraud_topic, settings.confirmation_topic], None
    for kind in ("fraud", "non-fraud"):
        chosen = factory.handler(settings, kind)
        if chosen.group == group:
            return [chosen.topic], chosen.folder
    known = ", ".join(consumer_groups(settings))
    raise ConfigError(f"no consumer group {group!r} in the pipeline; one of {known}")


def _require_stopped(admin: AdminClient, group: str) -> None:
    described = admin.describe_consumer_groups([group])[group].result(timeout=KAFKA_TIMEOUT)
    if described.members:
        raise GroupRunningError(
            f"{group} has {len(described.members)} running members; stop its consumers first "
            "(Kafka moves a group's offsets only while it is empty)"
        )


def _planned(
    settings: Settings, admin: AdminClient, reads: tuple[str, list[str]], since: datetime | None
) -> list[Move]:
    """Where each partition the group (``reads``: it and its topics) reads goes."""
    group, topics = reads
    request = [ConsumerGroupTopicPartitions(group)]
    listed = admin.list_consumer_group_offsets(request)[group].result(timeout=KAFKA_TIMEOUT)
    committed = {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions or []}
    reader = Consumer(kafka.consumer_config(settings.kafka_connection, REPLAY_GROUP))
    try:
        moves = []
        for topic in topics:
            metadata = reader.list_topics(topic, timeout=KAFKA_TIMEOUT).topics[topic]
            for partition in sorted(metadata.partitions):
                where = TopicPartition(topic, partition)
                low, high = reader.get_watermark_offsets(where, KAFKA_TIMEOUT)
                to = low if since is None else _first_at(reader, where, since, high)
                was = committed.get((topic, partition), -1)
                moves.append(Move(topic, partition, was if was >= 0 else None, to))
        return moves
    finally:
        reader.close()


def _first_at(reader: Consumer, where: TopicPartition, since: datetime, high: int) -> int:
    """The offset of the partition's first record at or after ``since``; its end if none."""
    asked = TopicPartition(where.topic, where.partition, int(since.timestamp() * 1000))
    found = reader.offsets_for_times([asked], timeout=KAFKA_TIMEOUT)[0]
    return found.offset if found.offset >= 0 else high


def _on_batch_starts(settings: Settings, folder: LakeFolder, moves: list[Move]) -> list[Move]:
    """Each move put on the first offset of the lake batch it falls in; refused where the
    lake lacks more than one batch that was emailed."""
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    placed = []
    for move in moves:
        where = (move.topic, move.partition)
        written = lake_batches(bucket, folder, where, 0)
        unwritten = emailed_but_unwritten(bucket, folder, where, move.to)
        if len(unwritten) > 1:
            raise FraudstreamError(
                f"{move.topic}[{move.partition}]: {len(unwritten)} emailed batches are missing "
                f"from {folder}/ (the first at offset {unwritten[0].first_offset:,}); their "
                "consumer would email those customers again. Put the objects back first"
            )
        start = _batch_start(written, move.to)
        placed.append(Move(move.topic, move.partition, move.committed, start))
    return placed


def _batch_start(batches: list[BatchKey], offset: int) -> int:
    for key in batches:
        if key.first_offset <= offset <= key.last_offset:
            return key.first_offset
    return offset


def _what_follows(folder: LakeFolder | None) -> str:
    if folder is None:
        return "its consumer, started again, upserts every case and answer again"
    return (
        f"its consumer, started again, reads on after the batches {folder}/ holds "
        "and emails no one twice"
    )
