"""The answer book on the GCS emulator: the first answer wins, even among simultaneous clicks;
reading an answer publishes nothing; an answer whose publication failed, for whatever
reason, stays recorded and the republisher publishes it once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from fraudstream.consumers.confirmation.answers import AnswerBook, Recorded
from fraudstream.emails.tokens import Answer, Confirmation
from fraudstream.kafka import DeliveryError
from fraudstream.kafka.registry import RegistryError
from fraudstream.settings.config import Settings
from fraudstream.storage import lake
from fraudstream.topology import ANSWERS_FOLDER

TRANSACTION = "a1b2c3d4e5f60718"
KEY = b"k" * 32


class Publications:
    """Stands in for the Kafka publisher (tested on its own): records, or fails on demand."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.failing: Exception | bool | None = None  # what publishing raises; True: a timeout

    def __call__(self, answer: dict[str, Any]) -> None:
        if self.failing is True:
            raise DeliveryError("the answer not acknowledged: timed out")
        if self.failing:
            raise self.failing
        self.published.append(answer)


@pytest.fixture
def book(settings: Settings) -> tuple[AnswerBook, Publications]:
    publications = Publications()
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    return AnswerBook(bucket, publications, KEY), publications


def _confirmation(answer: Answer) -> Confirmation:
    return Confirmation(TRANSACTION, answer, 4_000_000_000)


def _past_the_claim(answers: AnswerBook) -> None:
    """Moves the book's clock past the failed attempt's claim. The lease stays as it is, so
    the claims taken from now on hold (a lease of 0 would let every publisher through)."""
    answers.clock = lambda: time.time() + answers.lease_seconds + 1


def _stored(settings: Settings) -> lake.StoredObject:
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    stored = lake.read_object(bucket, f"{ANSWERS_FOLDER}/{TRANSACTION}.json")
    assert stored is not None
    return stored


def _at_once(count: int, action: Callable[[int], object]) -> None:
    """``action(0)`` to ``action(count - 1)``, each in a thread, all released together."""
    start = threading.Barrier(count)

    def run(number: int) -> None:
        start.wait()
        action(number)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def test_the_first_answer_is_kept_and_a_later_one_reads_it_back(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    answers, publications = book
    first = answers.record(_confirmation(Answer.NOT_FRAUD))
    assert first.new and first.published and first.answer["status"] == "not_fraud"
    second = answers.record(_confirmation(Answer.FRAUD))
    assert not second.new and second.answer == first.answer
    assert answers.recorded(TRANSACTION) == second
    assert json.loads(_stored(settings).data) == first.answer
    assert publications.published == [first.answer]


def test_of_simultaneous_clicks_exactly_one_records(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    answers, publications = book
    outcomes: list[Recorded] = []
    _at_once(8, lambda n: outcomes.append(answers.record(_confirmation(list(Answer)[n % 2]))))
    assert len(outcomes) == 8
    assert sum(outcome.new for outcome in outcomes) == 1
    assert len({json.dumps(outcome.answer, sort_keys=True) for outcome in outcomes}) == 1
    assert len(publications.published) == 1


def test_page_loads_publish_nothing_and_republishers_at_once_publish_once(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    """The answer was recorded while Kafka was away; once the failed attempt's claim has run
    out, four page loads come at once, then four republisher rounds (the service's replicas)."""
    answers, publications = book
    publications.failing = True
    assert not answers.record(_confirmation(Answer.FRAUD)).published
    publications.failing = None
    _past_the_claim(answers)
    _at_once(4, lambda _n: answers.recorded(TRANSACTION))
    assert publications.published == []
    _at_once(4, lambda _n: answers.publish_pending())
    assert len(publications.published) == 1


def test_reading_an_answered_case_never_publishes_it_again(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    answers, publications = book
    answers.lease_seconds = 0
    answers.record(_confirmation(Answer.NOT_FRAUD))
    for _ in range(3):
        assert answers.recorded(TRANSACTION) is not None
        answers.record(_confirmation(Answer.FRAUD))
    assert len(publications.published) == 1


@pytest.mark.parametrize(
    "failure", [DeliveryError("timed out"), RegistryError("the registry refused the schema")]
)
def test_an_answer_whose_publication_failed_is_kept_and_published_by_the_republisher(
    settings: Settings, book: tuple[AnswerBook, Publications], failure: Exception
) -> None:
    answers, publications = book
    publications.failing = failure
    kept = answers.record(_confirmation(Answer.FRAUD))
    assert kept.new and not kept.published  # recorded all the same, and no error raised
    assert _stored(settings).metadata.get("published") != "true"

    publications.failing = None
    assert answers.recorded(TRANSACTION) == Recorded(kept.answer, new=False, published=False)
    assert answers.publish_pending() == 0  # within the lease of the failed attempt
    assert publications.published == []
    _past_the_claim(answers)
    assert answers.publish_pending() == 1
    assert publications.published == [kept.answer]
    assert _stored(settings).metadata["published"] == "true"
    assert answers.publish_pending() == 0
    assert answers.recorded(TRANSACTION) == Recorded(kept.answer, new=False, published=True)
    assert len(publications.published) == 1


def _plant(settings: Settings, name: str, data: bytes) -> None:
    """What another account with write access to the lake could leave under answers/."""
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    bucket.blob(f"{ANSWERS_FOLDER}/{name}").upload_from_string(data)


def test_a_planted_answer_is_neither_published_nor_shown_and_the_customer_s_replaces_it(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    """Written without the token key (from the non-fraud consumer's machine, say): it would
    close the case as not fraud, and tell the customer they had already answered."""
    answers, publications = book
    planted = {"transaction_id": TRANSACTION, "status": "not_fraud", "answered_at": "2026-12-01"}
    _plant(settings, f"{TRANSACTION}.json", json.dumps({**planted, "mac": "0" * 64}).encode())
    assert answers.publish_pending() == 0
    assert publications.published == []
    assert _stored(settings).metadata["refused"] == "its MAC is not the token key's"
    assert answers.recorded(TRANSACTION) is None  # the page asks the customer

    own = answers.record(_confirmation(Answer.FRAUD))
    assert own.new and own.published and own.answer["status"] == "confirmed_fraud"
    assert [answer["status"] for answer in publications.published] == ["confirmed_fraud"]
    assert answers.recorded(TRANSACTION) == Recorded(own.answer, new=False, published=True)


def test_an_answer_under_another_transaction_s_name_is_refused(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    """A genuine answer copied to another case's name would answer for that case."""
    answers, publications = book
    genuine = answers.record(_confirmation(Answer.NOT_FRAUD)).answer
    _plant(settings, "ffffffffffffffff.json", json.dumps(genuine).encode())
    assert answers.publish_pending() == 0
    assert answers.recorded("ffffffffffffffff") is None
    assert publications.published == [genuine]


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"transaction_id": "a1b2c3d4e5f60718"}', b"\xff\xfe", b""],
    ids=["text", "a-list", "missing-keys", "odd-bytes", "empty"],
)
def test_a_malformed_object_is_refused_once_and_the_republisher_goes_on(
    settings: Settings, book: tuple[AnswerBook, Publications], data: bytes
) -> None:
    answers, publications = book
    publications.failing = True
    kept = answers.record(_confirmation(Answer.FRAUD))
    publications.failing = None
    _plant(settings, "0000000000000000.json", data)
    _past_the_claim(answers)
    assert answers.publish_pending() == 1  # the good answer goes, the bad one is marked
    assert publications.published == [kept.answer]
    assert answers.publish_pending() == 0
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    marked = lake.read_object(bucket, f"{ANSWERS_FOLDER}/0000000000000000.json")
    assert marked is not None and "refused" in marked.metadata
