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
from google.cloud import storage

from fraudstream import kafka, lake
from fraudstream.tokens import Answer, Confirmation
from fraudstream.topology import ANSWERS_FOLDER

STATUS = {Answer.FRAUD: "confirmed_fraud", Answer.NOT_FRAUD: "not_fraud"}

Publish = Callable[[dict[str, Any]], None]


class AnswerBook:
    def __init__(self, bucket: storage.Bucket, publish: Publish) -> None:
        self.bucket, self.publish = bucket, publish

    def recorded(self, transaction_id: str) -> dict[str, Any] | None:
        name = _object_name(transaction_id)
        stored = lake.read_object(self.bucket, name)
        if stored is None:
            return None
        answer: dict[str, Any] = json.loads(stored.data)
        if stored.metadata.get("published") != "true":
            self._publish(name, answer)
        return answer

    def record(self, confirmation: Confirmation) -> tuple[dict[str, Any], bool]:
        """The answer on record for the transaction, and whether this call recorded it."""
        answer = {
            "transaction_id": confirmation.transaction_id,
            "status": STATUS[confirmation.answer],
            "answered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        name = _object_name(confirmation.transaction_id)
        data = json.dumps(answer).encode()
        if not lake.create_if_absent(self.bucket, name, data, "application/json"):
            earlier = self.recorded(confirmation.transaction_id)
            assert earlier is not None, "an answer object exists once its precondition fails"
            return earlier, False
        self._publish(name, answer)
        return answer, True

    def _publish(self, name: str, answer: dict[str, Any]) -> None:
        self.publish(answer)
        lake.set_metadata(self.bucket, name, {"published": "true"})


def _object_name(transaction_id: str) -> str:
    if not transaction_id.isalnum():
        raise ValueError(f"not a transaction id: {transaction_id!r}")
    return f"{ANSWERS_FOLDER}/{transaction_id}.json"


class AnswerPublisher:
    """Publishes answers to the confirmation topic as Avro, keyed by transaction id."""

    def __init__(
        self, producer: Producer, topic: str, serialize: Callable[[dict[str, Any]], bytes]
    ) -> None:
        self.producer, self.topic, self.serialize = producer, topic, serialize

    def __call__(self, answer: dict[str, Any]) -> None:
        record = {**answer, "answered_at": datetime.fromisoformat(answer["answered_at"])}
        message = {"topic": self.topic, "value": self.serialize(record),
                   "key": answer["transaction_id"].encode()}  # fmt: skip
        kafka.produce_and_wait(self.producer, [message], "the answer", timeout=15)
