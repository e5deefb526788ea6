"""Read back what the pipeline committed to Kafka, as a consumer with read_committed would."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def read_committed(bootstrap_servers: str, topic: str, timeout: float = 60) -> list[Message]:
    """Every committed message of ``topic``, from the start of each partition to its end."""
    partitions = (
        AdminClient({"bootstrap.servers": bootstrap_servers})
        .list_topics(topic, timeout=10)
        .topics[topic]
        .partitions
    )
    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers, "group.id": f"reader-{topic}",
        "isolation.level": "read_committed", "enable.partition.eof": True,
        "enable.auto.commit": False,
    })  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages: list[Message] = []
    at_end: set[int] = set()
    try:
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"{topic}: no end of partition within {timeout} s"
            # consume() returns when it has the batch or the timeout passed: keep the latter short.
            for message in consumer.consume(10_000, 0.2):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition() or 0)
                    continue
                assert error is None, error
                messages.append(message)
    finally:
        consumer.close()
    return messages


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
