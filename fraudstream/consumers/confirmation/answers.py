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

Trusting: other accounts may be able to write to the lake, so an answer counts only
if this service recorded it. Each carries a MAC made with the token key (which only
the confirmation service and the fraud consumer hold) over its transaction id, status
and time, and its object name must be its transaction id's. An object that fails
either (or is not an answer at all) is refused: the page asks the customer as if there
were none, their answer replaces it, and the republisher marks it ``refused`` (logged
and counted once) instead of publishing it.
"""

from __future__ import annotations

import hmac
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
from fraudstream.emails.tokens import ANSWER_FIELDS, Answer, Confirmation, answer_mac
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


class RefusedAnswerError(ValueError):
    """A lake object under answers/ that this service did not record."""


def checked_answer(name: str, data: bytes, key: bytes) -> dict[str, Any]:
    """The answer object ``name`` holds, if this service recorded it; else RefusedAnswerError."""
    try:
        answer = json.loads(data)
    except ValueError:
        raise RefusedAnswerError("not JSON") from None
    fields = (*ANSWER_FIELDS, "mac")
    if not isinstance(answer, dict) or not all(isinstance(answer.get(f), str) for f in fields):
        raise RefusedAnswerError(f"not an answer: {', '.join(fields)} expected")
    try:
        named = _object_name(answer["transaction_id"]) == name
    except ValueError:
        named = False
    if not named:
        raise RefusedAnswerError("its name is not its transaction id's")
    if answer["status"] not in STATUS.values():
        raise RefusedAnswerError(f"not a status: {answer['status'][:40]!r}")
    if not hmac.compare_digest(answer["mac"], answer_mac(answer, key)):
        raise RefusedAnswerError("its MAC is not the token key's")
    return answer


class AnswerBook:
    def __init__(
        self,
        bucket: storage.Bucket,
        publish: Publish,
        key: bytes,
        lease_seconds: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket, self.publish, self.key = bucket, publish, key
        self.lease_seconds, self.clock = lease_seconds, clock

    def recorded(self, transaction_id: str) -> Recorded | None:
        """The answer on record, if any; reading it publishes nothing."""
        return self._on_record(_object_name(transaction_id))

    def record(self, confirmation: Confirmation) -> Recorded:
        """Record the customer's answer unless one is on record; the one that counts."""
        answer = {
            "transaction_id": confirmation.transaction_id,
            "status": STATUS[confirmation.answer],
            "answered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        answer["mac"] = answer_mac(answer, self.key)
        name = _object_name(confirmation.transaction_id)
        data = json.dumps(answer).encode()
        generation = lake.create_if_absent(self.bucket, name, data, _JSON)
        for _attempt in range(3):  # one is there: the customer's earlier answer, or refused
            if generation is not None:
                break
            earlier = self._on_record(name)
            if earlier is not None:
                return earlier
            refused = lake.read_object(self.bucket, name)
            generation = lake.replace_if_generation(
                self.bucket, name, data, _JSON, {}, generation=refused.generation if refused else 0
            )
        if generation is None:
            raise TransientError(f"gs://{self.bucket.name}/{name} keeps changing under the answer")
        metrics.ANSWERS_RECORDED.labels(answer["status"]).inc()
        published = self._publish_once(name, lake.StoredObject(data, {}, generation), answer)
        return Recorded(answer, new=True, published=published)

    def publish_pending(self) -> int:
        """Publish every answer on record that is not yet (the republisher); how many."""
        count = 0
        for found in lake.list_objects(self.bucket, f"{ANSWERS_FOLDER}/"):
            if found.metadata.get("published") == "true" or "refused" in found.metadata:
                continue
            stored = lake.read_object(self.bucket, found.name)
            if stored is None:
                continue
            try:
                answer = checked_answer(found.name, stored.data, self.key)
            except RefusedAnswerError as refusal:
                self._refuse(found.name, stored, str(refusal))
                continue
            count += self._publish_once(found.name, stored, answer)
        return count

    def _on_record(self, name: str) -> Recorded | None:
        """The answer object ``name`` holds, unless it is absent or refused."""
        stored = lake.read_object(self.bucket, name)
        if stored is None:
            return None
        try:
            answer = checked_answer(name, stored.data, self.key)
        except RefusedAnswerError as refusal:
            log.warning(
                "an answer not recorded here; not counted",
                extra={"object": name, "reason": str(refusal)},
            )
            return None
        published = stored.metadata.get("published") == "true"
        return Recorded(answer, new=False, published=published)

    def _refuse(self, name: str, stored: lake.StoredObject, reason: str) -> None:
        """Mark an object the republisher will not publish, so it is refused once."""
        log.error("answer refused", extra={"object": name, "reason": reason})
        metrics.ANSWERS_REFUSED.inc()
        lake.replace_if_generation(
            self.bucket, name, stored.data, _JSON, {"refused": reason}, generation=stored.generation
        )

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
        except Exception:  # a bug must not end the thread: the next round may get past it
            log.exception("the republisher's round failed")
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
        record = {field: answer[field] for field in (*ANSWER_FIELDS, "mac")}
        record["answered_at"] = datetime.fromisoformat(answer["answered_at"])
        message = {
            "topic": self.topic,
            "value": self.serialize(record),
            "key": answer["transaction_id"].encode(),
        }
        kafka.produce_and_wait(self.producer, [message], "the answer", timeout=15)
