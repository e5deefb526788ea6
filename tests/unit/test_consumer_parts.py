"""The consumer's parts on their own: backoff, the mailer's outcomes, recovery from the lake."""

from __future__ import annotations

import json
import smtplib
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError
from google.cloud import storage

from fraudstream import kafka
from fraudstream.batches import BatchKey
from fraudstream.consumers.email_sending import EmailJob, Mailer
from fraudstream.consumers.recovery import Recovery, recover
from fraudstream.consumers.retry import Backoff, StopWhileRetryingError, Waiter, until_done
from fraudstream.consumers.sinks import EmailLogDraft
from fraudstream.email_messages import Email
from fraudstream.smtp import MailError, SmtpSender, is_permanent
from fraudstream.topology import LakeFolder
from tests.fakes import MemoryBucket


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff(0.5, 3.0).delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def _waiter(stop_after: int | None = None) -> tuple[Waiter, list[float]]:
    pauses: list[float] = []
    waiter = Waiter(
        pauses.append,
        lambda: stop_after is not None and len(pauses) >= stop_after,
        Backoff(1.0, 8.0),
    )
    return waiter, pauses


def test_until_done_retries_transient_errors_only() -> None:
    outcomes: list[Exception | str] = [ConnectionError("down"), ConnectionError("down"), "done"]

    def action() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    waiter, pauses = _waiter()
    assert until_done(action, "x", waiter, (ConnectionError,)) == "done"
    assert pauses == [1.0, 2.0]
    with pytest.raises(ValueError):
        until_done(lambda: int("not a number"), "x", waiter, (ConnectionError,))


def test_a_stop_while_retrying_gives_up_the_attempt() -> None:
    def down() -> None:
        raise ConnectionError("down")

    waiter, pauses = _waiter(stop_after=2)
    with pytest.raises(StopWhileRetryingError):
        until_done(down, "x", waiter, (ConnectionError,))
    assert len(pauses) == 2


class _FlakySender:
    """Fails the first ``failures`` sends of each recipient with ``error``."""

    def __init__(self, failures: int, error: MailError) -> None:
        self.failures, self.error = failures, error
        self.tries: dict[str, int] = {}
        self.sent: list[str] = []

    def send(self, email: Email) -> None:
        recipient = email.recipient
        self.tries[recipient] = self.tries.get(recipient, 0) + 1
        if self.tries[recipient] <= self.failures:
            raise self.error
        self.sent.append(recipient)

    def close(self) -> None:
        pass


def _jobs(count: int) -> list[EmailJob]:
    return [
        EmailJob(
            f"t{number:015d}",
            "transaction_notification",
            Email("a@bank.example", f"c{number}@example.com", "Hi", f"<{number}@fs>", b""),
            {"topic": "t", "partition": 0, "offset": number},
        )
        for number in range(count)
    ]


def _mailer(sender: _FlakySender) -> Mailer:
    return Mailer(lambda: cast(SmtpSender, sender), connections=2)


def test_the_mailer_retries_a_passing_failure_until_each_email_is_sent() -> None:
    sender = _FlakySender(failures=2, error=MailError("421 try later"))
    waiter, pauses = _waiter()
    entries = _mailer(sender).deliver(_jobs(5), waiter)
    assert sorted(sender.sent) == sorted(f"c{n}@example.com" for n in range(5))
    assert [e["status"] for e in entries] == ["sent"] * 5
    assert [e["attempts"] for e in entries] == [3] * 5
    assert [e["offset"] for e in entries] == list(range(5))
    assert entries[0]["message_id"] == "<0@fs>"
    assert len(pauses) == 2


def test_the_mailer_hands_over_each_entry_as_its_email_is_done() -> None:
    sender = _FlakySender(failures=1, error=MailError("421 try later"))
    sender.tries = {f"c{n}@example.com": 1 for n in (0, 2, 3)}  # only c1 fails, once
    finished: list[str] = []
    waiter, _ = _waiter()
    entries = _mailer(sender).deliver(_jobs(4), waiter, lambda e: finished.append(e["recipient"]))
    assert finished[-1] == "c1@example.com"  # done last, after its retry
    assert sorted(finished) == sorted(e["recipient"] for e in entries)


def test_a_batch_email_log_is_drafted_at_most_once_an_interval() -> None:
    now, written = [0.0], []
    draft = EmailLogDraft(
        lambda lines: written.append(len(lines)),
        [{"transaction_id": "redo"}],
        interval=1.0,
        clock=lambda: now[0],
    )
    for number in range(10):
        now[0] += 0.3
        draft.add({"transaction_id": f"t{number}"})
    # Every entry so far, the redo's first, once a second has passed: at 1.2 and 2.4 s. The
    # last two wait for the batch's own email log.
    assert written == [5, 9]
    assert len(draft.lines) == 11


def test_the_mailer_logs_a_permanent_refusal_as_rejected_without_retrying() -> None:
    sender = _FlakySender(failures=1, error=MailError("550 no such user", permanent=True))
    waiter, pauses = _waiter()
    entries = _mailer(sender).deliver(_jobs(3), waiter)
    assert [e["status"] for e in entries] == ["rejected"] * 3
    assert all("550" in e["error"] for e in entries)
    assert sender.sent == [] and pauses == []


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), True),
        (smtplib.SMTPRecipientsRefused({"a@x": (450, b"mailbox busy")}), False),
        (smtplib.SMTPDataError(554, b"rejected"), True),
        (smtplib.SMTPDataError(451, b"local error"), False),
        (smtplib.SMTPSenderRefused(550, b"sender", "s@x"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(), False),
    ],
)
def test_only_a_5xx_about_the_message_is_permanent(error: Exception, permanent: bool) -> None:
    assert is_permanent(error) is permanent


def _batch(
    folder: LakeFolder, first: int, last: int, ids: list[str] | None = None
) -> dict[str, bytes]:
    lines = [json.dumps({"transaction_id": i, "status": "sent"}) + "\n" for i in ids or []]
    return {BatchKey("t", 0, first, last).object_name(folder): "".join(lines).encode()}


def _recover(objects: dict[str, bytes], committed: int) -> Recovery:
    return recover(
        cast(storage.Bucket, MemoryBucket(objects)), LakeFolder.TRANSACTIONS, "t", 0, committed
    )


def test_recovery_starts_at_the_commit_when_the_lake_has_nothing_past_it() -> None:
    lake = {**_batch(LakeFolder.TRANSACTIONS, 0, 9), **_batch(LakeFolder.EMAIL_LOG, 0, 9)}
    assert _recover(lake, committed=10) == Recovery()
    assert _recover({}, committed=-1001) == Recovery()


def test_recovery_skips_a_batch_written_but_not_committed() -> None:
    done, logged = LakeFolder.TRANSACTIONS, LakeFolder.EMAIL_LOG
    lake = {
        **_batch(done, 0, 9),
        **_batch(logged, 0, 9),
        **_batch(done, 10, 19),
        **_batch(logged, 10, 19),
    }
    assert _recover(lake, committed=10) == Recovery(resume_offset=20)


def test_recovery_redoes_exactly_a_batch_whose_emails_were_logged() -> None:
    lake = {
        **_batch(LakeFolder.TRANSACTIONS, 0, 9),
        **_batch(LakeFolder.EMAIL_LOG, 0, 9),
        **_batch(LakeFolder.EMAIL_LOG, 10, 24, ["a", "b"]),
    }
    found = _recover(lake, committed=0)
    assert found.resume_offset == 10 and found.replay_until == 24
    assert set(found.sent) == {"a", "b"}


class _FlakyProducer:
    """Acknowledges every message but those whose key is ``b"lost"``."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Any, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        self.callbacks.append((on_delivery, key))

    def flush(self, _timeout: float) -> int:
        for on_delivery, key in self.callbacks:
            error = KafkaError(KafkaError._MSG_TIMED_OUT, "timed out") if key == b"lost" else None
            on_delivery(error, None)
        return 0


def test_produce_and_wait_fails_when_any_message_is_not_acknowledged() -> None:
    good = [{"topic": "t", "value": b"v", "key": b"fine"}]
    kafka.produce_and_wait(_FlakyProducer(), good, "letters")  # type: ignore[arg-type]
    with pytest.raises(kafka.DeliveryError, match="letters not acknowledged: timed out"):
        kafka.produce_and_wait(
            _FlakyProducer(),  # type: ignore[arg-type]
            [*good, {"topic": "t", "value": b"v", "key": b"lost"}],
            "letters",
        )


def test_recovery_leaves_objects_that_are_not_batches_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = "transaction/topic=t/partition=000/"
    lake = {
        **_batch(LakeFolder.TRANSACTIONS, 0, 9),
        f"{prefix}README.txt": b"notes",
        f"{prefix}00000000000000000010-00000000000000000019 (1).jsonl": b"",
    }
    assert _recover(lake, committed=0) == Recovery(resume_offset=10)
    assert sum("not a batch" in record.getMessage() for record in caplog.records) == 2
