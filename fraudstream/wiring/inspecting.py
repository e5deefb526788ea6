"""Looking inside the pipeline from the command line: its topics and each consumer group's
lag (``fraudstream topics``), and a topic's records, decoded (``fraudstream tail``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from fraudstream import kafka
from fraudstream.paysim.avro_codec import DecodeError, RecordDecoder
from fraudstream.reporting.facts import KAFKA_TIMEOUT, kafka_view
from fraudstream.settings.config import ConfigError, Settings
from fraudstream.topology import topology
from fraudstream.wiring import factory

Say = Callable[[str], None]
TAIL_GROUP = "fraudstream-tail"  # names the reader; it assigns partitions and commits nothing


def print_topics(settings: Settings, say: Say = print) -> None:
    """Each topic of the pipeline with its partitions and records; each consumer group
    with its state, members and lag (records past its committed offsets), by partition."""
    _require_reachable(settings)
    topics, groups = kafka_view(settings)
    for topic in topics:
        say(
            f"topic  {topic.name:<30} {topic.partitions} partitions, {topic.replicas} replicas,"
            f" {topic.records:,} records (transaction markers included)"
        )
    for group in groups:
        if not group.lag:
            say(f"group  {group.group:<30} {group.state}, nothing committed yet")
            continue
        by_partition = ", ".join(f"{t}[{p}] {lag:,}" for (t, p), lag in sorted(group.lag.items()))
        say(
            f"group  {group.group:<30} {group.state}, {group.members} members, "
            f"lag {group.total_lag:,} ({by_partition})"
        )


def tail(
    settings: Settings, topic: str, count: int, from_beginning: bool, say: Say = print
) -> None:
    """The last ``count`` records of ``topic`` (every one with ``from_beginning``), oldest
    first, one JSON object a line: where it is, its key, and its value decoded."""
    declared = {t.name: t for t in topology(settings).topics}
    if topic not in declared:
        raise ConfigError(f"no topic {topic!r} in the pipeline; one of {', '.join(declared)}")
    _require_reachable(settings)
    schema = declared[topic].schema
    decoder = factory.record_decoder(settings, schema) if schema is not None else None
    messages = _read(settings, topic, None if from_beginning else count)
    messages.sort(key=lambda message: message.timestamp()[1])
    for message in messages if from_beginning else messages[-count:]:
        say(json.dumps(_shown(message, decoder), default=str))


def _require_reachable(settings: Settings) -> None:
    """One line naming the address, when no broker answers (``kafka.require_reachable``)."""
    admin = AdminClient(kafka.client_config(settings.kafka_connection))
    kafka.require_reachable(admin, settings.kafka_connection, timeout=5)


def _read(settings: Settings, topic: str, last: int | None) -> list[Message]:
    """Every committed record of ``topic`` from each partition's start, or its ``last``."""
    config = kafka.consumer_config(settings.kafka_connection, TAIL_GROUP)
    reader = Consumer({**config, "enable.partition.eof": True})
    try:
        metadata = reader.list_topics(topic, timeout=KAFKA_TIMEOUT).topics[topic]
        starts = []
        for partition in metadata.partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), 10)
            starts.append(
                TopicPartition(topic, partition, low if last is None else max(low, high - last))
            )
        reader.assign(starts)
        return _until_every_end(reader, len(starts))
    finally:
        reader.close()


def _until_every_end(reader: Consumer, partitions: int) -> list[Message]:
    messages: list[Message] = []
    ended: set[int] = set()
    while len(ended) < partitions:
        message = reader.poll(KAFKA_TIMEOUT)
        if message is None:
            break  # nothing for that long: what there is has come
        error = message.error()
        if error is not None and error.code() == KafkaError._PARTITION_EOF:
            ended.add(message.partition() or 0)
        elif error is None:
            messages.append(message)
    return messages


def _shown(message: Message, decoder: RecordDecoder | None) -> dict[str, Any]:
    kind, milliseconds = message.timestamp()
    raw_key, raw_value = message.key(), message.value()
    return {
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat() if kind else None,
        "key": raw_key.decode(errors="replace") if raw_key is not None else None,
        "value": _value(raw_value, decoder),
    }


def _value(raw: bytes | None, decoder: RecordDecoder | None) -> Any:
    """The Avro record decoded; a JSON value parsed; anything else as text."""
    if raw is None:
        return None
    if decoder is not None:
        try:
            return decoder.decode(raw)
        except DecodeError as error:
            return {"undecodable": str(error)}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
