"""Retrying: backoff, retrying transient errors only, and a stop while retrying."""

from __future__ import annotations

import pytest

from fraudstream.consumers.retry import Backoff, StopWhileRetryingError, until_done
from tests.fakes import recording_waiter


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff(0.5, 3.0).delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_until_done_retries_transient_errors_only() -> None:
    outcomes: list[Exception | str] = [ConnectionError("down"), ConnectionError("down"), "done"]

    def action() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    waiter, pauses = recording_waiter()
    assert until_done(action, "x", waiter, (ConnectionError,)) == "done"
    assert pauses == [1.0, 2.0]
    with pytest.raises(ValueError):
        until_done(lambda: int("not a number"), "x", waiter, (ConnectionError,))


def test_a_stop_while_retrying_gives_up_the_attempt() -> None:
    def down() -> None:
        raise ConnectionError("down")

    waiter, pauses = recording_waiter(stop_after=2)
    with pytest.raises(StopWhileRetryingError):
        until_done(down, "x", waiter, (ConnectionError,))
    assert len(pauses) == 2
