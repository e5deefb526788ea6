"""Sending a batch's emails over a few persistent SMTP connections, and logging each one.

Every email ends with an email-log entry: ``sent``, or ``rejected`` when the
server refused that message for good (a 5xx about its recipient or content).
Anything else (no connection, a 4xx) is retried with backoff until it goes
through; the batch is not finished, and its offsets not committed, before.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fraudstream.consumers.retry import Waiter
from fraudstream.emails.messages import Email
from fraudstream.emails.smtp import MailError, SmtpSender
from fraudstream.settings.config import Settings

# Jobs handed to each connection ahead of the one it sends: enough to keep it busy while
# the next emails are rendered, few enough that a crash re-sends only a handful unlogged.
JOBS_AHEAD_PER_CONNECTION = 4


@dataclass(frozen=True)
class EmailJob:
    transaction_id: str
    template: str
    email: Email
    source: dict[str, Any]  # topic, partition and offset of the record it is about


class _Attempts:
    """What happened to one job so far."""

    def __init__(self) -> None:
        self.count = 0
        self.first = datetime.now(UTC)


class Mailer:
    def __init__(self, connect: Callable[[], SmtpSender], connections: int) -> None:
        self._connect = connect
        self._pool = ThreadPoolExecutor(connections, thread_name_prefix="smtp")
        self._ahead = JOBS_AHEAD_PER_CONNECTION * connections
        self._local = threading.local()
        self._senders: list[SmtpSender] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None

        def connect() -> SmtpSender:
            return SmtpSender(
                settings.smtp_host,
                settings.smtp_port,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=password,
            )

        return cls(connect, settings.smtp_connections)

    def deliver(
        self,
        jobs: Iterable[EmailJob],
        waiter: Waiter,
        finished: Callable[[dict[str, Any]], None] = lambda entry: None,
    ) -> list[dict[str, Any]]:
        """Send every job; one email-log entry each, in the jobs' order.

        ``jobs`` may be a generator that renders as it goes: the connections
        send the first emails while the later ones are being rendered.
        ``finished`` is called with each entry as soon as its email is done
        (sent, or rejected for good), while the others are still going.
        """
        # Jobs are tracked by position: a batch may hold the same transaction twice.
        taken: list[EmailJob] = []
        attempts: list[_Attempts] = []
        entries: dict[int, dict[str, Any]] = {}

        def take(job: EmailJob) -> EmailJob:
            taken.append(job)
            attempts.append(_Attempts())
            return job

        first_round = enumerate(self._in_order(map(take, jobs)))
        rounds: Iterator[tuple[int, MailError | None]] = first_round
        round_number = 1
        while True:
            retry: list[int] = []
            for position, error in rounds:
                tried = attempts[position]
                tried.count += 1
                if error is None or error.permanent:
                    entries[position] = _log_entry(taken[position], tried, error)
                    finished(entries[position])
                else:
                    retry.append(position)
                    reason = error
            if not retry:
                return [entries[position] for position in range(len(taken))]
            waiter.after_failure(f"{len(retry)} emails", round_number, reason, cause="smtp")
            again = self._in_order(taken[position] for position in retry)
            rounds, round_number = zip(retry, again, strict=True), round_number + 1

    def _in_order(self, jobs: Iterable[EmailJob]) -> Iterator[MailError | None]:
        """Each job's outcome, in the jobs' order, as it comes.

        A few jobs per connection are handed over ahead, no more: a job is taken
        (and rendered) as an earlier one finishes, and an email is reported done
        soon after it is, which is what bounds the re-sends of a crash.
        """
        handed_over: deque[Future[MailError | None]] = deque()
        for job in jobs:
            handed_over.append(self._pool.submit(self._try, job))
            if len(handed_over) >= self._ahead:
                yield handed_over.popleft().result()
        while handed_over:
            yield handed_over.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for sender in self._senders:
                sender.close()
            self._senders.clear()

    def _try(self, job: EmailJob) -> MailError | None:
        try:
            self._sender().send(job.email)
        except MailError as error:
            return error
        return None

    def _sender(self) -> SmtpSender:
        sender: SmtpSender | None = getattr(self._local, "sender", None)
        if sender is None:
            sender = self._local.sender = self._connect()
            with self._lock:
                self._senders.append(sender)
        return sender


def refused_entry(
    transaction_id: str, template: str, recipient: str, reason: str, source: dict[str, Any]
) -> dict[str, Any]:
    """The email-log entry of an email never attempted: its address cannot be sent to."""
    now = datetime.now(UTC)
    return {
        "transaction_id": transaction_id,
        "recipient": recipient,
        "subject": None,
        "template": template,
        "message_id": None,
        "status": "rejected",
        "attempts": 0,
        "first_attempt_at": now,
        "finished_at": now,
        **source,
        "error": reason,
    }


def sent_before_entry(transaction_id: str, template: str, source: dict[str, Any]) -> dict[str, Any]:
    """The email-log entry of an email an earlier owner of the partition sent and did not
    live to log: sent, when and to whom not known."""
    return {
        "transaction_id": transaction_id,
        "recipient": None,
        "subject": None,
        "template": template,
        "message_id": None,
        "status": "sent",
        "attempts": None,
        "first_attempt_at": None,
        "finished_at": None,
        **source,
        "note": "sent by an earlier owner of the partition, which did not live to log it",
    }


def _log_entry(job: EmailJob, tried: _Attempts, error: MailError | None) -> dict[str, Any]:
    entry = {
        "transaction_id": job.transaction_id,
        "recipient": job.email.recipient,
        "subject": job.email.subject,
        "template": job.template,
        "message_id": job.email.message_id,
        "status": "sent" if error is None else "rejected",
        "attempts": tried.count,
        "first_attempt_at": tried.first,
        "finished_at": datetime.now(UTC),
        **job.source,
    }
    if error is not None:
        entry["error"] = str(error)
    return entry
