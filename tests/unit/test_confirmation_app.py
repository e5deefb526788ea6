"""The confirmation service's pages, over an answer book kept in memory (the real book is
tested on the GCS emulator, in tests/integration/test_answers.py)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from consumers.answers import STATUS, AnswerBook
from consumers.confirmation import SECURITY_HEADERS, create_app
from fraudstream.lake import StorageError
from fraudstream.tokens import Answer, Confirmation, sign

KEY = b"k" * 32
FAR_FUTURE = 4_000_000_000


class MemoryBook:
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.down = False

    def recorded(self, transaction_id: str) -> dict[str, Any] | None:
        if self.down:
            raise StorageError("the lake is down")
        return self.answers.get(transaction_id)

    def record(self, confirmation: Confirmation) -> tuple[dict[str, Any], bool]:
        earlier = self.recorded(confirmation.transaction_id)
        if earlier is not None:
            return earlier, False
        answer = {
            "transaction_id": confirmation.transaction_id,
            "status": STATUS[confirmation.answer],
            "answered_at": "2026-11-23T10:00:00",
        }
        self.answers[confirmation.transaction_id] = answer
        return answer, True


@pytest.fixture
def book() -> MemoryBook:
    return MemoryBook()


@pytest.fixture
def client(book: MemoryBook) -> FlaskClient:
    return create_app(cast(AnswerBook, book), KEY).test_client()


def _token(
    answer: Answer, expires_at: int = FAR_FUTURE, transaction_id: str = "a1b2c3d4e5f60718"
) -> str:
    return sign(Confirmation(transaction_id, answer, expires_at), KEY)


def test_opening_a_link_asks_and_records_nothing(client: FlaskClient, book: MemoryBook) -> None:
    page = client.get("/confirm", query_string={"token": _token(Answer.FRAUD)})
    assert page.status_code == 200
    assert b"Report this payment as fraud?" in page.data
    assert book.answers == {}


def test_the_pages_show_the_answer_the_book_keeps(client: FlaskClient, book: MemoryBook) -> None:
    first = client.post("/confirm", data={"token": _token(Answer.NOT_FRAUD)})
    assert first.status_code == 200 and b"you have confirmed this payment" in first.data
    second = client.post("/confirm", data={"token": _token(Answer.FRAUD)})
    assert b"You have already confirmed this payment" in second.data
    assert [a["status"] for a in book.answers.values()] == ["not_fraud"]
    shown = client.get("/confirm", query_string={"token": _token(Answer.FRAUD)})
    assert b"You have already confirmed" in shown.data


@pytest.mark.parametrize(
    ("token", "status", "text"),
    [
        (_token(Answer.FRAUD).replace("fraud", "not_fraud"), 400, b"not valid"),
        (
            sign(Confirmation("a1b2c3d4e5f60718", Answer.FRAUD, FAR_FUTURE), b"x" * 32),
            400,
            b"not valid",
        ),
        ("", 400, b"not valid"),
        (_token(Answer.FRAUD, expires_at=1_000_000_000), 410, b"expired"),
    ],
    ids=["tampered", "another-key", "missing", "expired"],
)
def test_a_bad_token_gets_a_4xx_page_and_records_nothing(
    client: FlaskClient, book: MemoryBook, token: str, status: int, text: bytes
) -> None:
    for response in (client.get("/confirm", query_string={"token": token}),
                     client.post("/confirm", data={"token": token})):  # fmt: skip
        assert response.status_code == status
        assert text in response.data
    assert book.answers == {}


def test_pages_carry_the_security_headers(client: FlaskClient) -> None:
    response = client.get("/confirm", query_string={"token": _token(Answer.FRAUD)})
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_a_lake_outage_gets_a_try_again_page(client: FlaskClient, book: MemoryBook) -> None:
    book.down = True
    response = client.post("/confirm", data={"token": _token(Answer.FRAUD)})
    assert response.status_code == 503 and b"Nothing has been recorded" in response.data
