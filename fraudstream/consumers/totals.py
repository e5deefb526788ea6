"""What a consumer has done so far: its counts, and how long it was busy."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudstream.consumers.sinks import EmailOutcome
from fraudstream.runtime import metrics


@dataclass
class Totals:
    batches: int = 0
    records: int = 0
    emails_sent: int = 0
    emails_rejected: int = 0
    emails_already_sent: int = 0
    dead_letters: int = 0
    first_message_at: float | None = None  # monotonic
    last_commit_at: float | None = None

    @property
    def busy_seconds(self) -> float:
        """From the first message taken to the last batch committed."""
        if self.first_message_at is None or self.last_commit_at is None:
            return 0.0
        return self.last_commit_at - self.first_message_at

    def add_slice(self, records: int, dead_letters: int, emails: EmailOutcome) -> None:
        self.records += records
        self.dead_letters += dead_letters
        self.emails_already_sent += emails.already_sent
        statuses = [entry["status"] for entry in emails.entries]
        self.emails_sent += statuses.count("sent")
        self.emails_rejected += statuses.count("rejected")

    def add_batch(self) -> None:
        """A lake batch written and committed."""
        self.batches += 1
        self.last_commit_at = time.monotonic()

    def counts(self) -> dict[str, int | float]:
        """The counts, and the busy seconds, for a log line; with when the busy time began and
        ended on the machine's monotonic clock, to add up the members of one machine."""
        counts: dict[str, int | float] = {
            name: value for name, value in vars(self).items() if not name.endswith("_at")
        }
        counts["busy_s"] = round(self.busy_seconds, 3)
        if self.first_message_at is not None and self.last_commit_at is not None:
            counts["busy_from"] = round(self.first_message_at, 3)
            counts["busy_to"] = round(self.last_commit_at, 3)
        return counts

    def summary(self) -> str:
        """One line for a person."""
        return (
            f"{self.records:,} records in {self.batches:,} batches, "
            f"{self.emails_sent:,} emails sent, {self.emails_rejected:,} rejected, "
            f"{self.emails_already_sent:,} already sent before, "
            f"{self.dead_letters:,} dead letters"
        )


def count_batch_metrics(group: str, started: float, dead: int, emailed: EmailOutcome) -> None:
    """A finished batch in the metrics: its time, dead letters, emails and their retries."""
    metrics.count_batch(group, time.monotonic() - started, dead)
    statuses = Counter(entry["status"] for entry in emailed.new_entries)
    statuses["already_sent"] += emailed.already_sent
    for status, count in statuses.items():
        metrics.EMAILS.labels(group, status).inc(count)
    retried = sum(max(entry["attempts"] - 1, 0) for entry in emailed.new_entries)
    metrics.EMAILS_RETRIED.labels(group).inc(retried)


def live_times(records: Sequence[dict[str, Any]]) -> list[datetime | int]:
    """The ``event_time`` of each live payment of a slice: none if it ends with a payment
    older than ``metrics.LIVE_WINDOW_SECONDS`` (history replayed: a partition's records
    come in the order they were made), at the cost of one record's look. A record
    without a time (not a payment) is left out."""
    if not records or not metrics.is_live(records[-1].get("event_time")):
        return []
    times = (record.get("event_time") for record in records)
    return [moment for moment in times if isinstance(moment, datetime | int)]


def observe_email_latency(
    folder: str, records: Sequence[dict[str, Any]], emailed: EmailOutcome, live: list[Any]
) -> None:
    """From each live payment's ``event_time`` to its email, as the mail server took it."""
    if not live:
        return
    made = {record.get("transaction_id"): record.get("event_time") for record in records}
    for entry in emailed.new_entries:
        moment = made.get(entry["transaction_id"])
        if entry["status"] == "sent" and isinstance(moment, datetime | int):
            at = entry["finished_at"].timestamp()
            metrics.observe_latency(f"email/{folder}", [moment], at)
