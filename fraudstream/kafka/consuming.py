"""Consuming: telling records from client events, committing, reading a compacted topic."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from fraudstream.kafka.clients import CommitReplies, Connection, client_config, consumer_config
from fraudstream.kafka.errors import (
    COORDINATOR_MOVING,
    NOT_THERE_YET,
    OWNERSHIP_LOST,
    SELF_HEALING,
    KafkaSetupError,
    KafkaUnavailableError,
    OwnershipLostError,
)
from fraudstream.topology import CHECKPOINT_READER_GROUP

log = logging.getLogger("fraudstream.kafka")
COMMIT_REPLY_SECONDS = 30.0  # a commit not answered in this time is sent again


def is_record(message: Message) -> bool:
    """True for a record; False for an event the client recovers from (logged);
    ``KafkaSetupError`` for a fatal error of the client."""
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise KafkaSetupError(f"the Kafka client failed for good: {error.str()}")
    level = logging.DEBUG if error.code() in SELF_HEALING else logging.WARNING
    log.log(level, "kafka", extra={"reason": error.str()})
    return False


def fetch(consumer: Consumer, at_most: int, timeout: float) -> list[Message]:
    """What has come, ``at_most`` messages: waits up to ``timeout`` for the first one only,
    then takes what else is there without waiting. (``Consumer.consume`` waits for
    ``at_most`` or the whole timeout: at a live pace, that is always the timeout.)"""
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(max(at_most - 1, 1), 0)]


def assign_fetching(consumer: Consumer, partitions: list[TopicPartition]) -> None:
    """Assign ``partitions`` and fetch from each. The client keeps a partition's pause
    across a rebalance: one paused when the group took it away (a wait, a retry) and
    given back later would otherwise stay paused, read by no one. For ``on_assign``."""
    consumer.assign(partitions)
    consumer.resume(partitions)


def commit(
    consumer: Consumer,
    topic: str,
    partition: int,
    next_offset: int,
    *,
    wait: bool = True,
    metadata: str | None = None,
) -> None:
    """Commit ``next_offset`` for one partition, with ``metadata`` beside it: synchronously,
    or (``wait=False``) sent without waiting for the reply, whose failure
    ``consumer_config``'s callback logs."""
    try:
        offsets = [TopicPartition(topic, partition, next_offset)]
        if metadata is not None:  # without it, the note committed before is cleared
            offsets = [TopicPartition(topic, partition, next_offset, metadata=metadata)]
        if wait:
            consumer.commit(offsets=offsets, asynchronous=False)
        else:
            consumer.commit(offsets=offsets, asynchronous=True)
    except KafkaException as error:
        raise _commit_error(topic, partition, error.args[0]) from error


def commit_serving(
    consumer: Consumer,
    replies: CommitReplies,
    where: tuple[str, int, int],
    metadata: str | None,
    serve: Callable[[float], None],
    *,
    reply_seconds: float = COMMIT_REPLY_SECONDS,
) -> None:
    """Commit offset ``where[2]`` of partition ``where[:2]`` and wait for Kafka's reply, at
    most ``reply_seconds``, calling ``serve(seconds)`` meanwhile to go on polling. A commit
    that blocks would block the rebalance callbacks too, and librdkafka may hold the commit
    until they have run: the member would wait on itself until it is thrown out of its
    group."""
    topic, partition, next_offset = where
    replies.expect((topic, partition))
    commit(consumer, topic, partition, next_offset, wait=False, metadata=metadata)
    deadline = time.monotonic() + reply_seconds
    while not (reply := replies.reply_to((topic, partition), next_offset))[0]:
        if time.monotonic() > deadline:
            raise KafkaUnavailableError(f"offset commit: no reply in {reply_seconds:g} s")
        serve(0.01)
    if reply[1] is not None:
        raise _commit_error(topic, partition, reply[1])


def _commit_error(topic: str, partition: int, kafka_error: KafkaError) -> Exception:
    if kafka_error.code() in OWNERSHIP_LOST:
        return OwnershipLostError(f"{topic}[{partition}]: {kafka_error.str()}")
    if kafka_error.retriable() or kafka_error.code() in COORDINATOR_MOVING:
        return KafkaUnavailableError(f"offset commit: {kafka_error.str()}")
    return KafkaSetupError(f"Kafka refused the offset commit: {kafka_error.str()}")


def committed(consumer: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
    """The group's committed offsets of ``partitions``."""
    try:
        return list(consumer.committed(partitions, timeout=30))
    except KafkaException as error:
        raise KafkaUnavailableError(f"reading committed offsets: {error.args[0].str()}") from error


def end_offsets(consumer: Consumer, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
    """Each partition's end offset (the next record's), asked of its leader."""
    try:
        return {
            (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=30)[1]
            for tp in partitions
        }
    except KafkaException as error:
        raise KafkaUnavailableError(f"reading end offsets: {error.args[0].str()}") from error


def read_last_value(
    bootstrap_servers: Connection, topic: str, key: bytes, timeout: float = 60
) -> bytes | None:
    """The last committed value of ``key`` in partition 0 of ``topic``, or None.

    Reads up to the partition's last stable offset as it is when asked (a
    read_committed offset query returns that), so a producer that keeps
    committing meanwhile cannot hold the read up.
    """
    partition = TopicPartition(topic, 0)
    try:
        end = _last_stable_offset(bootstrap_servers, partition)
        return _scan_for_key(bootstrap_servers, partition, key, end, timeout)
    except KafkaException as error:
        raise KafkaUnavailableError(f"cannot read {topic}: {error.args[0].str()}") from error
    except TimeoutError as error:
        raise KafkaUnavailableError(f"cannot read {topic}: no answer in time") from error


def _scan_for_key(
    bootstrap_servers: Connection, partition: TopicPartition, key: bytes, end: int, timeout: float
) -> bytes | None:
    consumer = Consumer(consumer_config(bootstrap_servers, CHECKPOINT_READER_GROUP))
    latest: bytes | None = None
    try:
        start, _ = consumer.get_watermark_offsets(partition, timeout=10)
        if end <= start:
            return None
        consumer.assign([TopicPartition(partition.topic, 0, start)])
        deadline = time.monotonic() + timeout
        # Transaction markers take offsets but are never delivered, hence the position check.
        while _position(consumer, partition) < end:
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"reading {partition.topic} took over {timeout} s")
            message = consumer.poll(0.2)
            if message is None or not is_record(message):
                continue
            if message.key() == key and message.value():
                latest = message.value()
    finally:
        consumer.close()
    return latest


def _last_stable_offset(
    bootstrap_servers: Connection, partition: TopicPartition, timeout: float = 30
) -> int:
    """Where committed data ends now: records past it belong to transactions still open.

    A topic created a moment ago may not have reached every broker yet; the one
    asked then answers "unknown topic", which passes: asked again until ``timeout``.
    """
    admin = AdminClient(client_config(bootstrap_servers))
    deadline = time.monotonic() + timeout
    while True:
        futures = admin.list_offsets(
            {partition: OffsetSpec.latest()},  # type: ignore[no-untyped-call]
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=10,
        )
        try:
            return int(futures[partition].result(15).offset)
        except KafkaException as error:
            passing = error.args[0].retriable() or error.args[0].code() in NOT_THERE_YET
            if not passing or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _position(consumer: Consumer, partition: TopicPartition) -> int:
    offset = consumer.position([partition])[0].offset
    return int(offset) if offset >= 0 else -1
