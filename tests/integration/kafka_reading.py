"""Read back what the pipeline committed to Kafka, as a consumer with read_committed would."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def read_committed(bootstrap_servers: str, topic: str, timeout: float = 30) -> list[Message]:
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
        while len(at_end) < len(partitions):
            message = consumer.poll(timeout)
            assert message is not None, f"{topic}: no end of partition within {timeout} s"
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
