"""Customers' answers: recorded once in the lake, then published to the confirmation topic.

The lake object ``fraud_confirmation/answers/<transaction_id>.json`` is created
only if it does not exist (a GCS generation precondition), so of two clicks,
even simultaneous ones, exactly one answer is recorded; every later click
reads it back. The object's ``published`` metadata turns true once the topic
has the answer, so a publish that failed is redone by the next click.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.api_core import exceptions as google_errors
from google.cloud import storage

from fraudstream import kafka, registry
from fraudstream.config import Settings
from fraudstream.tokens import Answer, Confirmation

ANSWER_FOLDER = "fraud_confirmation/answers"
STATUS = {Answer.FRAUD: "confirmed_fraud", Answer.NOT_FRAUD: "not_fraud"}

Publish = Callable[[dict[str, Any]], None]


class AnswerBook:
    def __init__(self, bucket: storage.Bucket, publish: Publish) -> None:
        self.bucket, self.publish = bucket, publish

    def recorded(self, transaction_id: str) -> dict[str, Any] | None:
        blob = self.bucket.get_blob(_object_name(transaction_id))
        if blob is None:
            return None
        answer: dict[str, Any] = json.loads(blob.download_as_bytes())
        if (blob.metadata or {}).get("published") != "true":
            self._publish(blob, answer)
        return answer

    def record(self, confirmation: Confirmation) -> tuple[dict[str, Any], bool]:
        """The answer on record for the transaction, and whether this call recorded it."""
        answer = {
            "transaction_id": confirmation.transaction_id,
            "status": STATUS[confirmation.answer],
            "answered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        blob = self.bucket.blob(_object_name(confirmation.transaction_id))
        try:
            blob.upload_from_string(
                json.dumps(answer), content_type="application/json", if_generation_match=0
            )
        except google_errors.PreconditionFailed:
            earlier = self.recorded(confirmation.transaction_id)
            assert earlier is not None, "an answer object exists once its precondition fails"
            return earlier, False
        self._publish(blob, answer)
        return answer, True

    def _publish(self, blob: storage.Blob, answer: dict[str, Any]) -> None:
        self.publish(answer)
        blob.metadata = {"published": "true"}
        blob.patch()


def _object_name(transaction_id: str) -> str:
    if not transaction_id.isalnum():
        raise ValueError(f"not a transaction id: {transaction_id!r}")
    return f"{ANSWER_FOLDER}/{transaction_id}.json"


class AnswerPublisher:
    """Publishes answers to the confirmation topic as Avro, keyed by transaction id."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.confirmation_topic
        client = registry.registry_client(settings.schema_registry_url)
        schema = registry.load_schema("fraud_confirmation")
        registry.register_value_schema(client, self.topic, schema)
        self._serialize = registry.avro_serializer(client, schema)
        self._producer = Producer(kafka.producer_config(settings.kafka_bootstrap_servers))

    def __call__(self, answer: dict[str, Any]) -> None:
        record = {**answer, "answered_at": datetime.fromisoformat(answer["answered_at"])}
        value = self._serialize(record, SerializationContext(self.topic, MessageField.VALUE))
        message = {"topic": self.topic, "value": value, "key": answer["transaction_id"].encode()}
        kafka.produce_and_wait(self._producer, [message], "the answer", timeout=15)
