"""Customers' answers: recorded once in the lake, then published to the confirmation topic.

Recording: the lake object ``fraud_confirmation/answers/<transaction_id>.json``
is created only if it does not exist (a GCS generation precondition), so of
two clicks, even simultaneous ones, exactly one answer is recorded; every
later click reads it back.

Publishing: whoever publishes an answer first claims it, by writing the same
answer again with a ``claimed_at`` mark, only if nobody wrote it since it was
read (a generation precondition); the claim holds for ``lease_seconds``. So a
click and the republisher at once publish the answer once. It is marked
``published`` once Kafka has acknowledged it. Only the click that records an
answer publishes it; reading one (a page load) publishes nothing. An answer
whose publication failed, for any reason (Kafka away, the registry refusing),
stays recorded and unpublished, and the service's republisher
(``publish_pending``, at start and then every minute) publishes it once the
claim has run out: the customer's page says the answer is recorded all the
same. Published twice it can be only if a publisher dies, or its
acknowledgement is lost, after Kafka took the answer and before it was
marked: after the lease, it goes again. The topic is keyed by transaction id,
so a reader keeps the last one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer
from google.cloud import storage

from fraudstream import kafka
from fraudstream.emails.tokens import Answer, Confirmation
from fraudstream.errors import FraudstreamError, TransientError
from fraudstream.runtime import metrics
from fraudstream.storage import lake
from fraudstream.topology import ANSWERS_FOLDER

log = logging.getLogger("fraudstream.confirmation")

STATUS = {Answer.FRAUD: "confirmed_fraud", Answer.NOT_FRAUD: "not_fraud"}

Publish = Callable[[dict[str, Any]], None]
_JSON = "application/json"


@dataclass(frozen=True)
class Recorded:
    answer: dict[str, Any]
    new: bool  # this call recorded it
    published: bool  # the confirmation topic has it


class AnswerBook:
    def __init__(
        self,
        bucket: storage.Bucket,
        publish: Publish,
        lease_seconds: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket, self.publish = bucket, publish
        self.lease_seconds, self.clock = lease_seconds, clock

    def recorded(self, transaction_id: str) -> Recorded | None:
        """The answer on record, if any; reading it publishes nothing."""
        stored = lake.read_object(self.bucket, _object_name(transaction_id))
        if stored is None:
            return None
        published = stored.metadata.get("published") == "true"
        return Recorded(json.loads(stored.data), new=False, published=published)

    def record(self, confirmation: Confirmation) -> Recorded:
        """Record the customer's answer unless one is on record; the one that counts."""
        answer = {
            "transaction_id": confirmation.transaction_id,
            "status": STATUS[confirmation.answer],
            "answered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        name = _object_name(confirmation.transaction_id)
        data = json.dumps(answer).encode()
        generation = lake.create_if_absent(self.bucket, name, data, _JSON)
        if generation is None:
            earlier = self.recorded(confirmation.transaction_id)
            assert earlier is not None, "an answer object exists once its precondition fails"
            return earlier
        metrics.ANSWERS_RECORDED.labels(answer["status"]).inc()
        published = self._publish_once(name, lake.StoredObject(data, {}, generation), answer)
        return Recorded(answer, new=True, published=published)

    def publish_pending(self) -> int:
        """Publish every answer on record that is not yet (the republisher); how many."""
        count = 0
        for found in lake.list_objects(self.bucket, f"{ANSWERS_FOLDER}/"):
            if found.metadata.get("published") == "true" or not found.name.endswith(".json"):
                continue
            stored = lake.read_object(self.bucket, found.name)
            if stored is not None:
                count += self._publish_once(found.name, stored, json.loads(stored.data))
        return count

    def _publish_once(self, name: str, stored: lake.StoredObject, answer: dict[str, Any]) -> bool:
        """Whether the answer is published now; publishes it if nobody holds a claim on it.

        Once the answer is stored, no failure is the caller's problem: the answer stays
        recorded, and unpublished until the republisher's next round after the claim."""
        if stored.metadata.get("published") == "true":
            return True
        claimed_at = float(stored.metadata.get("claimed_at", "0") or 0)
        if self.clock() - claimed_at < self.lease_seconds:
            return False  # another request is publishing it
        try:
            claim = {"claimed_at": f"{self.clock():.3f}"}
            claimed = lake.replace_if_generation(
                self.bucket, name, stored.data, _JSON, claim, generation=stored.generation
            )
            if claimed is None:
                return False  # another request claimed it first
            self.publish(answer)
            metrics.ANSWERS_PUBLISHED.inc()
            done = {"published": "true"}
            lake.replace_if_generation(
                self.bucket, name, stored.data, _JSON, done, generation=claimed
            )
        except FraudstreamError as error:
            level = logging.WARNING if isinstance(error, TransientError) else logging.ERROR
            log.log(
                level,
                "answer recorded, not yet published",
                extra={"transaction_id": answer.get("transaction_id"), "reason": str(error)},
            )
            return False
        return True


def republish(book: AnswerBook, interval: float, stopped: threading.Event) -> None:
    """Publish what is recorded and not yet published, now and every ``interval`` seconds,
    until ``stopped`` is set (the confirmation service runs this in a thread)."""
    while True:
        try:
            if count := book.publish_pending():
                log.info("answers published late", extra={"count": count})
        except FraudstreamError as error:
            log.warning("cannot look for unpublished answers now", extra={"reason": str(error)})
        if stopped.wait(interval):
            return


def _object_name(transaction_id: str) -> str:
    if not transaction_id.isalnum() or not transaction_id.isascii():
        raise ValueError(f"not a transaction id: {transaction_id[:40]!r}")
    return f"{ANSWERS_FOLDER}/{transaction_id}.json"


class AnswerPublisher:
    """Publishes answers to the confirmation topic as Avro, keyed by transaction id."""

    def __init__(
        self, producer: Producer, topic: str, serialize: Callable[[dict[str, Any]], bytes]
    ) -> None:
        self.producer, self.topic, self.serialize = producer, topic, serialize

    def __call__(self, answer: dict[str, Any]) -> None:
        record = {**answer, "answered_at": datetime.fromisoformat(answer["answered_at"])}
        message = {
            "topic": self.topic,
            "value": self.serialize(record),
            "key": answer["transaction_id"].encode(),
        }
        kafka.produce_and_wait(self.producer, [message], "the answer", timeout=15)
