"""Read back what the pipeline committed to Kafka, as a consumer with read_committed would."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

# How long a partition may stay short of its high watermark before its end is taken as
# final: a commit's markers arrive within milliseconds, while a killed producer's open
# transaction stays open until the broker aborts it, a minute later.
MARKER_WAIT = 8.0
WATERMARK_ATTEMPTS = 20  # half a second apart: a new leader is elected well within that
LEADER_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
}


def read_committed(bootstrap_servers: str, topic: str, timeout: float = 60) -> list[Message]:
    """Every committed message of ``topic``, from the start of each partition to its end.

    A partition's first end-of-partition event is not always its end: a producer's commit
    returns once the coordinator has logged it, before the markers reach the partitions,
    and until they do a read_committed reader stops short of the transaction. So an end
    short of the high watermark counts only once it has held for ``MARKER_WAIT`` s."""
    partitions = (
        AdminClient({"bootstrap.servers": bootstrap_servers})
        .list_topics(topic, timeout=10)
        .topics[topic]
        .partitions
    )
    consumer = _consumer(bootstrap_servers, topic, "read_committed")
    watermarks = _consumer(bootstrap_servers, topic, "read_uncommitted")
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages: list[Message] = []
    at_end: set[int] = set()
    short_since: dict[int, float] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"{topic}: no end of partition within {timeout} s"
            # consume() returns when it has the batch or the timeout passed: keep the latter short.
            for message in consumer.consume(10_000, 0.2):
                partition, error = message.partition() or 0, message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    if _at_high_watermark(watermarks, message):
                        at_end.add(partition)
                    else:
                        short_since[partition] = time.monotonic()
                    continue
                assert error is None, error
                short_since.pop(partition, None)
                messages.append(message)
            now = time.monotonic()
            at_end |= {p for p, since in short_since.items() if now - since >= MARKER_WAIT}
    finally:
        consumer.close()
        watermarks.close()
    return messages


def _consumer(bootstrap_servers: str, topic: str, isolation: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"reader-{topic}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )


def _at_high_watermark(watermarks: Consumer, end_of_partition: Message) -> bool:
    """Whether the end reached is the partition's last offset, markers included. Asked of
    a read_uncommitted consumer: a read_committed one answers with the stable offset."""
    partition = TopicPartition(end_of_partition.topic() or "", end_of_partition.partition() or 0)
    for _attempt in range(WATERMARK_ATTEMPTS):
        try:
            _low, high = watermarks.get_watermark_offsets(partition, timeout=10, cached=False)
        except KafkaException as error:  # a leader lost a moment ago (a test stops brokers)
            if not (error.args[0].retriable() or error.args[0].code() in LEADER_MOVING):
                raise
            time.sleep(0.5)
            continue
        return (end_of_partition.offset() or 0) >= high
    return False  # unknown: the end counts once it has held for MARKER_WAIT


def decoded_values(registry_url: str, topic: str, messages: list[Message]) -> list[dict[str, Any]]:
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext(topic, MessageField.VALUE)
    return [deserializer(message.value(), context) for message in messages]


def transaction_id(message: Message) -> str:
    """The id of an encoded transaction without decoding it all (it is the first field).

    After Confluent's 5-byte header comes the Avro string: its length, 16,
    zig-zag encoded as the single byte 0x20, then the 16 characters.
    """
    value = message.value()
    assert value is not None and value[5] == 0x20, "not a transaction record"
    return value[6:22].decode()
