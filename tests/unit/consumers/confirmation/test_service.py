"""The confirmation service's pages, over an answer book kept in memory (the real book is
tested on the GCS emulator, in tests/integration/consumers/confirmation/test_answers.py)."""

from __future__ import annotations

import html
import re
import threading
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from fraudstream.consumers.confirmation.answers import STATUS, AnswerBook, Recorded, republish
from fraudstream.consumers.confirmation.service import SECURITY_HEADERS, create_app
from fraudstream.emails.branding import Brand
from fraudstream.emails.messages import payment_details
from fraudstream.emails.tokens import Answer, Confirmation, Payment, sign
from fraudstream.storage.lake import StorageError

KEY = b"k" * 32
FAR_FUTURE = 4_000_000_000
BRAND = Brand("Fraudstream Bank", "+1 555 0100 (every day)")
PAYMENT = Payment("CASH_OUT", 181.0, 1_767_225_600_000, "C553264065")


class MemoryBook:
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.down = False
        self.kafka_down = False

    def recorded(self, transaction_id: str) -> Recorded | None:
        if self.down:
            raise StorageError("the lake is down")
        answer = self.answers.get(transaction_id)
        return None if answer is None else Recorded(answer, False, not self.kafka_down)

    def record(self, confirmation: Confirmation) -> Recorded:
        earlier = self.recorded(confirmation.transaction_id)
        if earlier is not None:
            return earlier
        answer = {
            "transaction_id": confirmation.transaction_id,
            "status": STATUS[confirmation.answer],
            "answered_at": "2026-11-23T10:00:00",
        }
        self.answers[confirmation.transaction_id] = answer
        return Recorded(answer, True, not self.kafka_down)


@pytest.fixture
def book() -> MemoryBook:
    return MemoryBook()


@pytest.fixture
def client(book: MemoryBook) -> FlaskClient:
    return create_app(cast(AnswerBook, book), KEY, BRAND).test_client()


def _token(
    answer: Answer,
    expires_at: int = FAR_FUTURE,
    transaction_id: str = "a1b2c3d4e5f60718",
    payment: Payment | None = PAYMENT,
) -> str:
    return sign(Confirmation(transaction_id, answer, expires_at, payment), KEY)


def _shown_rows(page: bytes) -> list[tuple[str, str]]:
    rows = re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', page.decode())
    return [(html.unescape(label), html.unescape(value)) for label, value in rows]


def test_opening_a_link_asks_and_records_nothing(client: FlaskClient, book: MemoryBook) -> None:
    page = client.get("/confirm", query_string={"token": _token(Answer.FRAUD)})
    assert page.status_code == 200
    assert b"Report this payment as fraud?" in page.data
    assert book.answers == {}


def test_the_pages_show_the_answer_the_book_keeps(client: FlaskClient, book: MemoryBook) -> None:
    first = client.post("/confirm", data={"token": _token(Answer.NOT_FRAUD)})
    assert first.status_code == 200 and b"you have confirmed that you made" in first.data
    assert b"Answered by mistake? Contact us: +1 555 0100" in first.data
    second = client.post("/confirm", data={"token": _token(Answer.FRAUD)})
    assert b"You have already confirmed that you made this payment" in second.data
    assert b"recorded on 23 Nov 2026 at 10:00 UTC" in second.data
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
    for response in (
        client.get("/confirm", query_string={"token": token}),
        client.post("/confirm", data={"token": token}),
    ):
        assert response.status_code == status
        assert text in response.data
    assert book.answers == {}


def test_pages_carry_the_security_headers(client: FlaskClient) -> None:
    response = client.get("/confirm", query_string={"token": _token(Answer.FRAUD)})
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_lake_outage_gets_a_try_again_page(client: FlaskClient, book: MemoryBook) -> None:
    book.down = True
    response = client.post("/confirm", data={"token": _token(Answer.FRAUD)})
    assert response.status_code == 503 and b"open the link from your" in response.data


def test_the_try_again_page_never_says_nothing_was_recorded(
    client: FlaskClient, book: MemoryBook
) -> None:
    """The lake may hold the answer while reading it back fails: the page cannot know."""
    assert client.post("/confirm", data={"token": _token(Answer.FRAUD)}).status_code == 200
    book.down = True
    for response in (
        client.post("/confirm", data={"token": _token(Answer.NOT_FRAUD)}),
        client.get("/confirm", query_string={"token": _token(Answer.FRAUD)}),
    ):
        assert response.status_code == 503
        assert b"cannot tell whether your answer has been recorded" in response.data
        assert b"Nothing has been recorded" not in response.data


def test_an_answer_recorded_while_kafka_is_away_says_so(
    client: FlaskClient, book: MemoryBook
) -> None:
    book.kafka_down = True
    response = client.post("/confirm", data={"token": _token(Answer.FRAUD)})
    assert response.status_code == 200
    assert b"reported this payment as fraud" in response.data
    assert b"safely recorded" in response.data and b"Nothing has been recorded" not in response.data


@pytest.mark.parametrize(
    "token", ["a.b.c.%C3%A9", "a.b.c.\u00e9", "\u00e9", "....", "x" * 3000, "a.b.c.d.e.f"]
)
def test_any_malformed_token_gets_400(client: FlaskClient, token: str) -> None:
    assert client.get("/confirm", query_string={"token": token}).status_code == 400
    assert client.get(f"/confirm?token={token}").status_code == 400
    assert client.post("/confirm", data={"token": token}).status_code == 400


def test_pages_escape_what_they_show(client: FlaskClient) -> None:
    marked_up = Payment("TRANSFER", 1.0, 0, "<script>alert(1)</script>")
    for answer in Answer:
        page = client.get("/confirm", query_string={"token": _token(answer, payment=marked_up)})
        assert b"<script>" not in page.data and b"&lt;script&gt;" in page.data


def test_every_page_shows_the_payment_as_the_email_did(
    client: FlaskClient, book: MemoryBook
) -> None:
    emailed = payment_details(PAYMENT, "a1b2c3d4e5f60718", BRAND)
    assert [label for label, _ in emailed] == ["Type", "Amount", "Date and time", "To", "Reference"]
    token = _token(Answer.FRAUD)
    asked = client.get("/confirm", query_string={"token": token})
    answered = client.post("/confirm", data={"token": token})
    again = client.get("/confirm", query_string={"token": _token(Answer.NOT_FRAUD)})
    for page in (asked, answered, again):
        assert page.status_code == 200 and _shown_rows(page.data) == emailed
    assert "$181.00" in dict(emailed).values()


def test_a_link_whose_payment_was_changed_gets_400(client: FlaskClient, book: MemoryBook) -> None:
    signature = _token(Answer.FRAUD).rsplit(".", 1)[1]
    cheaper = _token(Answer.FRAUD, payment=Payment("CASH_OUT", 1.0, 1_767_225_600_000, "C55"))
    forged = f"{cheaper.rsplit('.', 1)[0]}.{signature}"
    for response in (
        client.get("/confirm", query_string={"token": forged}),
        client.post("/confirm", data={"token": forged}),
    ):
        assert response.status_code == 400 and b"$1.00" not in response.data
    assert book.answers == {}


def test_a_link_from_before_payments_were_signed_still_works(
    client: FlaskClient, book: MemoryBook
) -> None:
    token = _token(Answer.FRAUD, payment=None)
    asked = client.get("/confirm", query_string={"token": token})
    assert asked.status_code == 200 and _shown_rows(asked.data) == []
    assert b"a1b2c3d4e5f60718" in asked.data and b"described in the email" in asked.data
    assert client.post("/confirm", data={"token": token}).status_code == 200
    assert [a["status"] for a in book.answers.values()] == ["confirmed_fraud"]


def test_the_pages_say_what_follows_and_whom_to_contact(
    client: FlaskClient, book: MemoryBook
) -> None:
    pages = {
        "ask": client.get("/confirm", query_string={"token": _token(Answer.FRAUD)}),
        "recorded": client.post("/confirm", data={"token": _token(Answer.FRAUD)}),
        "invalid": client.get("/confirm", query_string={"token": "x.y"}),
        "expired": client.get("/confirm", query_string={"token": _token(Answer.FRAUD, 1)}),
    }
    book.down = True
    pages["unavailable"] = client.post("/confirm", data={"token": _token(Answer.FRAUD)})
    for name, page in pages.items():
        text = page.data.decode()
        assert "+1 555 0100 (every day)" in text and "Fraudstream Bank" in text, name
        assert "release" not in text and "blocked" not in text, name  # nothing does either
    assert "does not stop or refund the payment" in pages["ask"].data.decode()
    assert "if you answered by mistake, contact us" in pages["recorded"].data.decode()


def test_a_logo_is_the_one_image_a_page_may_load(book: MemoryBook) -> None:
    branded = Brand("B", "c", logo_url="https://cdn.bank.example/logo.svg")
    client = create_app(cast(AnswerBook, book), KEY, branded).test_client()
    page = client.get("/confirm", query_string={"token": _token(Answer.FRAUD)})
    policy = page.headers["Content-Security-Policy"]
    assert policy.endswith("; img-src https://cdn.bank.example")
    assert b'<img src="https://cdn.bank.example/logo.svg" alt="">' in page.data


def test_a_large_body_is_refused_before_it_is_read(client: FlaskClient, book: MemoryBook) -> None:
    response = client.post("/confirm", data={"token": _token(Answer.FRAUD), "pad": "x" * 100_000})
    assert response.status_code == 413
    assert book.answers == {}


class _PendingBook:
    """Counts the republisher's rounds; the second finds the lake down."""

    def __init__(self, stopped: threading.Event) -> None:
        self.rounds, self.stopped = 0, stopped

    def publish_pending(self) -> int:
        self.rounds += 1
        if self.rounds == 2:
            raise StorageError("the lake is down")
        if self.rounds == 3:
            self.stopped.set()
        return 1


def test_the_republisher_goes_round_until_stopped_and_outlives_an_outage() -> None:
    stopped = threading.Event()
    book = _PendingBook(stopped)
    republish(cast(AnswerBook, book), interval=0.01, stopped=stopped)
    assert book.rounds == 3
