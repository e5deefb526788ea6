"""The answer book on the GCS emulator: the first answer wins, even among simultaneous clicks,
and an answer whose publication failed is published by the next reader."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from consumers.answers import AnswerBook
from fraudstream import lake
from fraudstream.config import Settings
from fraudstream.kafka import DeliveryError
from fraudstream.tokens import Answer, Confirmation
from fraudstream.topology import ANSWERS_FOLDER

TRANSACTION = "a1b2c3d4e5f60718"


class Publications:
    """Stands in for the Kafka publisher (tested on its own): records, or fails on demand."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.failing = False

    def __call__(self, answer: dict[str, Any]) -> None:
        if self.failing:
            raise DeliveryError("the answer not acknowledged: timed out")
        self.published.append(answer)


@pytest.fixture
def book(settings: Settings) -> tuple[AnswerBook, Publications]:
    publications = Publications()
    return AnswerBook(lake.lake_bucket(settings.gcp_project, settings.lake_bucket), publications), (
        publications
    )


def _confirmation(answer: Answer) -> Confirmation:
    return Confirmation(TRANSACTION, answer, 4_000_000_000)


def _stored(settings: Settings) -> lake.StoredObject:
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    stored = lake.read_object(bucket, f"{ANSWERS_FOLDER}/{TRANSACTION}.json")
    assert stored is not None
    return stored


def test_the_first_answer_is_kept_and_a_later_one_reads_it_back(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    answers, publications = book
    first, new = answers.record(_confirmation(Answer.NOT_FRAUD))
    assert new and first["status"] == "not_fraud"
    second, new = answers.record(_confirmation(Answer.FRAUD))
    assert not new and second == first
    assert answers.recorded(TRANSACTION) == first
    assert json.loads(_stored(settings).data) == first
    assert publications.published == [first]


def test_of_simultaneous_clicks_exactly_one_records(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    answers, _ = book
    start = threading.Barrier(8)
    outcomes: list[tuple[dict[str, Any], bool]] = []

    def click(answer: Answer) -> None:
        start.wait()
        outcomes.append(answers.record(_confirmation(answer)))

    threads = [threading.Thread(target=click, args=(list(Answer)[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 8
    assert sum(new for _, new in outcomes) == 1
    assert len({json.dumps(answer, sort_keys=True) for answer, _ in outcomes}) == 1


def test_an_answer_not_published_is_published_by_the_next_reader(
    settings: Settings, book: tuple[AnswerBook, Publications]
) -> None:
    answers, publications = book
    publications.failing = True
    with pytest.raises(DeliveryError):
        answers.record(_confirmation(Answer.FRAUD))
    assert _stored(settings).metadata.get("published") != "true"

    publications.failing = False
    kept = answers.recorded(TRANSACTION)
    assert kept is not None and publications.published == [kept]
    assert _stored(settings).metadata["published"] == "true"
    answers.recorded(TRANSACTION)
    assert len(publications.published) == 1
