"""Adapters speak the project's errors: what a retry may mend, and what it will not."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
import requests
from confluent_kafka import KafkaError, KafkaException
from google.api_core import exceptions as google_errors
from google.cloud import storage

from fraudstream import kafka
from fraudstream.errors import MissingResourceError, PermanentError, TransientError
from fraudstream.kafka.clients import CLIENT_LOG
from fraudstream.kafka.transactions import (
    ProducerFencedError,
    TransactionalProducer,
    TransactionFailedError,
)
from fraudstream.storage import lake


def _raise(error: Exception) -> None:
    with lake.translated("cannot write gs://lake/x"):
        raise error


@pytest.mark.parametrize(
    "error",
    [
        google_errors.ServiceUnavailable("down"),  # type: ignore[no-untyped-call]
        google_errors.TooManyRequests("slow down"),  # type: ignore[no-untyped-call]
        requests.exceptions.ConnectionError("refused"),
    ],
)
def test_an_outage_is_transient(error: Exception) -> None:
    with pytest.raises(lake.StorageUnavailableError, match="cannot write gs://lake/x") as raised:
        _raise(error)
    assert isinstance(raised.value, TransientError)
    assert not isinstance(raised.value, PermanentError)


def test_a_refused_permission_is_permanent_and_says_what_to_check() -> None:
    with pytest.raises(lake.StorageError, match=r"permission denied.*service account") as raised:
        _raise(google_errors.Forbidden("storage.objects.create denied"))  # type: ignore[no-untyped-call]
    assert isinstance(raised.value, PermanentError)
    assert not isinstance(raised.value, TransientError)


class _MissingBucket:
    name = "nowhere"

    def __init__(self) -> None:
        self.client = self

    def list_blobs(self, _bucket: Any, **_options: Any) -> list[Any]:
        raise google_errors.NotFound("no such bucket")  # type: ignore[no-untyped-call]


def test_a_missing_bucket_says_to_run_setup() -> None:
    with pytest.raises(MissingResourceError, match=r"gs://nowhere.*fraudstream setup"):
        lake.require_bucket(cast(storage.Bucket, _MissingBucket()))


def test_librdkafka_warnings_about_what_it_retries_itself_are_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=CLIENT_LOG.name):
        CLIENT_LOG.warning("FETCH [rdkafka#consumer-1]: Coordinator load in progress: retrying")
        CLIENT_LOG.warning("FAIL [rdkafka#producer-1]: 127.0.0.1:9093/2: Connection refused")
    assert [record.getMessage()[-18:] for record in caplog.records] == ["Connection refused"]


class _Committing:
    """A consumer whose commit is answered with ``code``."""

    def __init__(self, code: int) -> None:
        self.code = code

    def commit(self, **_kwargs: object) -> None:
        raise KafkaException(KafkaError(self.code, "answered", retriable=False))


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        (KafkaError.COORDINATOR_LOAD_IN_PROGRESS, kafka.KafkaUnavailableError),
        (KafkaError.NOT_COORDINATOR, kafka.KafkaUnavailableError),
        (KafkaError.ILLEGAL_GENERATION, kafka.OwnershipLostError),
        (KafkaError.GROUP_AUTHORIZATION_FAILED, kafka.KafkaSetupError),
    ],
)
def test_a_commit_is_retried_while_the_coordinator_moves_and_refused_otherwise(
    code: int, raised: type[Exception]
) -> None:
    with pytest.raises(raised):
        kafka.commit(_Committing(code), "t", 0, 10)  # type: ignore[arg-type]


class _Recording:
    """A consumer that keeps what each commit was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def commit(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_a_commit_waits_for_its_reply_unless_told_not_to() -> None:
    consumer = _Recording()
    kafka.commit(consumer, "t", 0, 10)  # type: ignore[arg-type]
    kafka.commit(consumer, "t", 0, 20, wait=False)  # type: ignore[arg-type]
    assert [call["asynchronous"] for call in consumer.calls] == [False, True]
    assert [call["offsets"][0].offset for call in consumer.calls] == [10, 20]


class _Answered:
    """A partition as a commit's reply gives it back."""

    def __init__(self, offset: int, error: KafkaError | None) -> None:
        self.topic, self.partition, self.offset, self.error = "t", 2, offset, error


def test_a_commit_refused_in_its_reply_is_logged_and_one_stored_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = KafkaError(KafkaError.ILLEGAL_GENERATION, "generation moved on")
    with caplog.at_level(logging.INFO, logger="fraudstream.kafka"):
        kafka.report_failed_commit(None, [_Answered(10, None)])  # type: ignore[list-item]
        kafka.report_failed_commit(None, [_Answered(20, refused)])  # type: ignore[list-item]
        kafka.report_failed_commit(refused, [_Answered(30, None)])  # type: ignore[list-item]
    assert [record.getMessage() for record in caplog.records] == ["offset commit failed"] * 2
    assert [cast(Any, record).partitions for record in caplog.records] == [["t[2]@20"], ["t[2]@30"]]
    assert all("generation moved on" in cast(Any, r).reason for r in caplog.records)


class _Client:
    """Stands in for confluent_kafka.Producer: every EndTxn fails with ``error``."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error
        self.aborts = 0

    def commit_transaction(self, timeout: float) -> None:
        raise KafkaException(self.error)

    def abort_transaction(self, timeout: float) -> None:
        self.aborts += 1


def _committing(error: KafkaError) -> tuple[TransactionalProducer, _Client]:
    producer = object.__new__(TransactionalProducer)
    client = producer._producer = _Client(error)  # type: ignore[assignment]
    producer.commit_timeout = 1
    return producer, client


@pytest.mark.parametrize(
    ("error", "aborts"),
    [
        (KafkaError(KafkaError._TIMED_OUT, retriable=True), 0),  # the outcome is not known
        (KafkaError(KafkaError._TRANSPORT, retriable=True), 0),
        (KafkaError(KafkaError.INVALID_TXN_STATE, fatal=True), 0),
        (KafkaError(KafkaError._MSG_TIMED_OUT, txn_requires_abort=True), 1),
    ],
)
def test_a_failed_commit_is_never_retried_on_the_same_instance(
    error: KafkaError, aborts: int
) -> None:
    producer, client = _committing(error)
    with pytest.raises(TransactionFailedError, match="commit failed"):
        producer.commit()
    assert client.aborts == aborts  # an abort only where the client asks for one


def test_a_fenced_producer_stops_the_run_instead_of_fencing_back() -> None:
    producer, _ = _committing(KafkaError(KafkaError._FENCED, fatal=True))
    with pytest.raises(ProducerFencedError, match=r"another producer .* took over") as raised:
        producer.commit()
    assert isinstance(raised.value, PermanentError)
