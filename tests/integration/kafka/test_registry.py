"""The schema registry is real: confluent-kafka's Avro serde works against it unchanged."""

from __future__ import annotations

import io
import json
import uuid

import fastavro
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from fraudstream.errors import MissingResourceError
from fraudstream.kafka import ensure_topics
from fraudstream.kafka.registry import (
    load_schema,
    register_value_schema,
    registered_id,
    registry_client,
    value_serializer,
)
from fraudstream.topology import Topic
from tests.integration.conftest import Stack

RECORD: dict[str, object] = {
    "transaction_id": "3f1c0ad2",
    "step": 1,
    "event_time": 1_700_000_000_000,
    "type": "TRANSFER",
    "amount": 92_445_516.64,
    "nameOrig": "C1305486145",
    "oldbalanceOrg": 181.0,
    "newbalanceOrig": 0.0,
    "nameDest": "C553264065",
    "oldbalanceDest": 0.0,
    "newbalanceDest": 0.0,
    "isFraud": True,
    "isFlaggedFraud": False,
    "customer_email": "C1305486145@customers.fraudstream.example",
    "detector": "gbm",
    "score": 0.97,
}
# The fields added after the first release, each with a default.
ADDED_FIELDS = {"detector": "unknown", "score": 0.0}


def _without_timestamp_conversion(decoded: dict[str, object]) -> dict[str, object]:
    event_time = decoded["event_time"]
    if hasattr(event_time, "timestamp"):
        decoded = {**decoded, "event_time": round(event_time.timestamp() * 1000)}
    return decoded


def test_avro_record_round_trip_in_confluent_wire_format(stack: Stack, topic_name: str) -> None:
    topic = topic_name
    client = registry_client(stack.schema_registry_url)
    schema_text = load_schema("transaction")
    schema_id = register_value_schema(client, f"{topic}-value", schema_text)
    assert client.get_compatibility(f"{topic}-value") == "BACKWARD"

    assert registered_id(client, f"{topic}-value", schema_text) == schema_id
    context = SerializationContext(topic, MessageField.VALUE)
    payload = value_serializer(client, topic, schema_text)(RECORD)
    # Confluent wire format: magic byte 0, the schema id as 4 big-endian bytes, Avro binary.
    assert payload[0] == 0
    assert int.from_bytes(payload[1:5], "big") == schema_id
    parsed = fastavro.parse_schema(json.loads(schema_text))
    decoded = fastavro.schemaless_reader(io.BytesIO(payload[5:]), parsed)
    assert isinstance(decoded, dict)
    assert _without_timestamp_conversion(decoded) == RECORD

    ensure_topics(stack.bootstrap_servers, [Topic(topic, 1, min(3, stack.broker_count))])
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, "acks": "all"})
    producer.produce(topic, key=str(RECORD["nameOrig"]), value=payload)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap_servers,
            "group.id": topic,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        message = consumer.poll(20)
    finally:
        consumer.close()
    assert message is not None and message.error() is None
    value = AvroDeserializer(client)(message.value(), context)
    assert _without_timestamp_conversion(value) == RECORD
    assert value["amount"] == 92_445_516.64  # a double, never float32


def test_a_schema_never_registered_is_a_missing_resource(stack: Stack) -> None:
    client = registry_client(stack.schema_registry_url)
    subject = f"it-unknown-{uuid.uuid4().hex[:8]}-value"
    with pytest.raises(MissingResourceError, match=f"{subject}.*fraudstream setup"):
        registered_id(client, subject, load_schema("transaction"))


def _first_release(schema_text: str) -> str:
    schema = json.loads(schema_text)
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in ADDED_FIELDS]
    return json.dumps(schema)


def test_the_schema_is_backward_compatible_with_the_first_release(
    stack: Stack, topic_name: str
) -> None:
    """Records written before the detector fields existed decode with today's schema."""
    topic = topic_name
    subject = f"{topic}-value"
    client = registry_client(stack.schema_registry_url)
    old_text, new_text = _first_release(load_schema("transaction")), load_schema("transaction")
    old_id = register_value_schema(client, subject, old_text)
    old_record = {k: v for k, v in RECORD.items() if k not in ADDED_FIELDS}
    old_payload = value_serializer(client, topic, old_text)(old_record)

    # The registry takes the new version over the old one under BACKWARD...
    new_id = register_value_schema(client, subject, new_text)
    assert new_id != old_id
    assert [v for v in client.get_versions(subject)] == [1, 2]
    # ...and refuses a field added without a default, so the check above can fail.
    broken = json.loads(new_text)
    broken["fields"].append({"name": "no_default", "type": "string"})
    with pytest.raises(SchemaRegistryError):
        client.register_schema(subject, Schema(json.dumps(broken), "AVRO"))

    context = SerializationContext(topic, MessageField.VALUE)
    reader = AvroDeserializer(client, new_text)
    decoded = _without_timestamp_conversion(reader(old_payload, context))
    assert decoded == {**old_record, **ADDED_FIELDS}
    new_payload = value_serializer(client, topic, new_text)(RECORD)
    assert _without_timestamp_conversion(reader(new_payload, context)) == RECORD
