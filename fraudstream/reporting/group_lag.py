"""Each consumer group's whole lag, one series a group: what the cloud's autoscaler sizes a
kind of consumer VMs on (``fraudstream watch-lag``).

The members export the lag of the partitions each one holds (``fraudstream_consumer_lag``),
so a group's total is a sum over members that come and go. An autoscaler cannot take that:
it reads one time series for the group as it stands. So one process reads, every
interval, each group's committed offsets and the ends of the topics it reads, from Kafka
alone, and exports the totals as ``fraudstream_group_lag``. It needs to describe those
topics and groups, and reads no record.

A partition the group never committed counts from its first record, where the group's
``auto.offset.reset = earliest`` starts it: a backlog waiting for a group's first
members is lag too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException
from confluent_kafka import TopicPartition as Partition
from confluent_kafka.admin import AdminClient, OffsetSpec

from fraudstream import kafka
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.topology import consumer_group_topics

log = logging.getLogger(__name__)
KAFKA_TIMEOUT = 10
Key = tuple[str, int]


def group_lags(admin: AdminClient, groups: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    """Each group's records past its committed offsets, over every partition of its topics.
    Raises ``KafkaException`` when Kafka does not answer in time."""
    partitions = _partitions(admin, sorted({t for topics in groups.values() for t in topics}))
    starts = _offsets(admin, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    ends = _offsets(admin, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    lags = {}
    for group, topics in groups.items():
        read = [Partition(topic, p) for topic, p in partitions if topic in topics]
        committed = _committed(admin, group, read)
        lags[group] = sum(
            max(ends[key] - max(committed.get(key, starts[key]), starts[key]), 0)
            for key in ((tp.topic, tp.partition) for tp in read)
        )
    return lags


def _partitions(admin: AdminClient, topics: list[str]) -> list[Key]:
    found = []
    for topic in topics:
        metadata = admin.list_topics(topic, timeout=KAFKA_TIMEOUT).topics.get(topic)
        if metadata is None:
            raise KafkaException(f"topic {topic}: no such topic")
        if metadata.error is not None:
            raise KafkaException(f"topic {topic}: {metadata.error.str()}")
        found += [(topic, p) for p in sorted(metadata.partitions)]
    return found


def _offsets(admin: AdminClient, partitions: list[Key], spec: OffsetSpec) -> dict[Key, int]:
    """Each partition's first offset or end; the end a ``read_committed`` reader sees (the
    producer writes in transactions, and an open one is not there yet)."""
    asked = {Partition(topic, p): spec for topic, p in partitions}
    if not asked:
        return {}
    answers = admin.list_offsets(
        asked, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=KAFKA_TIMEOUT
    )
    return {
        (tp.topic, tp.partition): answer.result(timeout=KAFKA_TIMEOUT).offset
        for tp, answer in answers.items()
    }


def _committed(admin: AdminClient, group: str, partitions: list[Partition]) -> dict[Key, int]:
    if not partitions:
        return {}
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    listed = admin.list_consumer_group_offsets(request, request_timeout=KAFKA_TIMEOUT)
    answer = listed[group].result(timeout=KAFKA_TIMEOUT)
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def watch(settings: Settings, stop: StopFlag, every_seconds: float) -> None:
    """Export each group's lag every ``every_seconds`` until ``stop``. While Kafka does not
    answer, the series are withdrawn, not left at their last value: an autoscaler that
    sees none keeps the group's size, where a stale figure would steer it."""
    groups = consumer_group_topics(settings)
    # What cannot work (Kafka out of reach at start, a wrong password, no topics yet)
    # ends the process in one line, as every service does; systemd starts it again.
    topics = sorted({topic for read in groups.values() for topic in read})
    kafka.require_topics(settings.kafka_connection, topics)
    admin = AdminClient(kafka.client_config(settings.kafka_connection))
    while not stop.requested:
        try:
            lags = group_lags(admin, groups)
        except KafkaException as error:
            log.warning("cannot read the groups' lag", extra={"reason": str(error)})
            metrics.forget_group_lag(groups)
        else:
            metrics.set_group_lag(lags)
        stop.wait(every_seconds)
