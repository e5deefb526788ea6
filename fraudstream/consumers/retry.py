"""Retrying an outage away: exponential backoff that keeps the consumer alive while it waits."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, Message

log = logging.getLogger("fraudstream.consumer")

T = TypeVar("T")


class StopWhileRetryingError(Exception):
    """A stop signal came while waiting: leave the batch uncommitted and exit."""


@dataclass(frozen=True)
class Backoff:
    """Waits of first, 2 x first, 4 x first ... capped at ``longest`` seconds."""

    first: float = 0.5
    longest: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.longest, self.first * 2 ** (attempt - 1)))


class Waiter:
    """How a consumer waits between attempts: ``pause`` sleeps while serving the group,
    ``stopping`` tells when to give up."""

    def __init__(
        self,
        pause: Callable[[float], None],
        stopping: Callable[[], bool],
        backoff: Backoff,
        counted: Callable[[str], None] = lambda _cause: None,
    ) -> None:
        self.pause, self.stopping, self.backoff = pause, stopping, backoff
        self.counted = counted  # told the cause of each retry, for the metrics

    def after_failure(
        self, what: str, attempt: int, error: Exception, cause: str | None = None
    ) -> None:
        """Wait before attempt ``attempt + 1``; StopWhileRetryingError when a stop came.
        ``cause`` names what failed for the metrics (default: ``what``)."""
        self.counted(cause or what)
        delay = self.backoff.delay(attempt)
        log.warning(
            "retrying",
            extra={"what": what, "attempt": attempt, "in_s": delay, "reason": str(error)},
        )
        if self.stopping():
            raise StopWhileRetryingError(what)
        self.pause(delay)
        if self.stopping():
            raise StopWhileRetryingError(what)


def until_done(
    action: Callable[[], T], what: str, waiter: Waiter, transient: tuple[type[Exception], ...]
) -> T:
    """``action()``, retried after each transient error until it succeeds or a stop comes."""
    attempt = 1
    while True:
        try:
            return action()
        except transient as error:
            waiter.after_failure(what, attempt, error)
            attempt += 1


def pause_in_group(consumer: Consumer, seconds: float, keep: Callable[[Message], None]) -> None:
    """Wait ``seconds`` while keeping the member in its group: fetching is paused, and
    what was fetched already and comes now is handed to ``keep``. A partition taken away
    meanwhile is resumed when it comes back (``kafka.assign_fetching``)."""
    assignment = consumer.assignment()
    consumer.pause(assignment)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        message = consumer.poll(min(left, 1.0))
        if message is not None:
            keep(message)
    still_assigned = set(consumer.assignment())
    consumer.resume([tp for tp in assignment if tp in still_assigned])
