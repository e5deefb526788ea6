"""What makes an answer one the confirmation service recorded, and a republisher that no
bad round ends (the answer book itself runs on the GCS emulator: tests/integration)."""

from __future__ import annotations

import io
import json
import threading
from typing import Any, cast

import fastavro
import pytest

from fraudstream.consumers.confirmation.answers import (
    AnswerBook,
    AnswerPublisher,
    RefusedAnswerError,
    checked_answer,
    republish,
)
from fraudstream.emails.tokens import answer_mac, signed_record
from fraudstream.kafka.registry import load_schema

KEY = b"k" * 32
NAME = "fraud_confirmation/answers/a1b2c3d4e5f60718.json"
ANSWER = {
    "transaction_id": "a1b2c3d4e5f60718",
    "status": "confirmed_fraud",
    "answered_at": "2026-12-06T10:00:00.000+00:00",
}


def _signed(**changes: str) -> bytes:
    answer = {**ANSWER, "mac": answer_mac(ANSWER, KEY), **changes}
    return json.dumps(answer).encode()


def test_an_answer_made_with_the_key_under_its_own_name_is_accepted() -> None:
    assert checked_answer(NAME, _signed(), KEY)["status"] == "confirmed_fraud"


def _published(answer: dict[str, Any]) -> dict[str, Any]:
    """The record the case consumer reads back: the publisher's, through Avro."""
    schema = fastavro.parse_schema(json.loads(load_schema("fraud_confirmation")))
    sent: list[bytes] = []

    def serialize(record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        return buffer.getvalue()

    publisher = AnswerPublisher(cast(Any, None), "answers", serialize)
    publisher.producer = cast(Any, _Collect(sent))
    publisher(answer)
    return cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(sent[0]), schema, schema))


class _Collect:
    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    def produce(self, *_: Any, value: bytes, **__: Any) -> None:
        self.sent.append(value)

    def flush(self, *_: Any) -> int:
        return 0

    def poll(self, *_: Any) -> int:
        return 0


def test_a_published_answer_carries_the_mac_the_case_consumer_checks() -> None:
    record = _published({**ANSWER, "mac": answer_mac(ANSWER, KEY)})
    assert signed_record(record, KEY)
    assert not signed_record(record, b"x" * 32)
    assert not signed_record({**record, "status": "not_fraud"}, KEY)
    assert not signed_record({**record, "mac": None}, KEY)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        (NAME, _signed(status="not_fraud"), "MAC"),
        (NAME, _signed(answered_at="2026-12-07T10:00:00.000+00:00"), "MAC"),
        (NAME, _signed(mac=answer_mac(ANSWER, b"x" * 32)), "MAC"),
        (NAME.replace("a1b2", "ffff"), _signed(), "name"),
        (NAME, _signed(transaction_id="../../x"), "name"),
        (NAME, _signed(status="maybe"), "status"),
        (NAME, json.dumps(ANSWER).encode(), "expected"),
        (NAME, b"[1, 2]", "expected"),
        (NAME, b"\xff not json", "JSON"),
    ],
    ids=["status", "time", "other-key", "renamed", "path", "odd-status", "no-mac", "list", "bytes"],
)
def test_anything_else_is_refused_saying_why(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(RefusedAnswerError, match=reason):
        checked_answer(name, data, KEY)


class FailingOnce:
    def __init__(self) -> None:
        self.rounds = 0
        self.second_round = threading.Event()

    def publish_pending(self) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise KeyError("transaction_id")  # a bug the answer checks missed
        self.second_round.set()
        return 0


def test_a_round_that_fails_does_not_end_the_republisher() -> None:
    book, stopped = FailingOnce(), threading.Event()
    thread = threading.Thread(target=republish, args=(cast(AnswerBook, book), 0.01, stopped))
    thread.start()
    try:
        assert book.second_round.wait(10)
    finally:
        stopped.set()
        thread.join(10)
