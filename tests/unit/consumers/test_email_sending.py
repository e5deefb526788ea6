"""The mailer's outcomes: retries until sent, entries handed over as they are done, a
permanent refusal logged as rejected; and the email log's drafts."""

from __future__ import annotations

import smtplib
from typing import cast

import pytest

from fraudstream.consumers.email_sending import EmailJob, Mailer
from fraudstream.emails.messages import Email
from fraudstream.emails.smtp import MailError, SmtpSender, is_permanent
from tests.fakes import recording_waiter


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
    waiter, pauses = recording_waiter()
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
    waiter, _ = recording_waiter()
    entries = _mailer(sender).deliver(_jobs(4), waiter, lambda e: finished.append(e["recipient"]))
    assert finished[-1] == "c1@example.com"  # done last, after its retry
    assert sorted(finished) == sorted(e["recipient"] for e in entries)


def test_the_mailer_logs_a_permanent_refusal_as_rejected_without_retrying() -> None:
    sender = _FlakySender(failures=1, error=MailError("550 no such user", permanent=True))
    waiter, pauses = recording_waiter()
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
