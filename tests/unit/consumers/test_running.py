"""The consume-loop skeleton both consumers run."""

from __future__ import annotations

import pytest

from fraudstream.consumers.retry import StopWhileRetryingError
from fraudstream.consumers.running import run_until_stopped
from fraudstream.runtime.stopping import StopFlag


class _Consumer:
    """Records what the skeleton asked of it; its steps raise what it is given."""

    def __init__(self, steps_before_idle: int, fail_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.steps_before_idle, self.fail_at = steps_before_idle, fail_at

    def run(self, stop: StopFlag) -> None:
        run_until_stopped(
            self.step,
            stop=stop,
            idle=self.idle,
            finish=lambda: self.calls.append("finish"),
            watch=lambda force: self.calls.append(f"watch {force}"),
            close=lambda: self.calls.append("close"),
        )

    def step(self) -> None:
        self.calls.append("step")
        if self.calls.count("step") == self.fail_at:
            raise StopWhileRetryingError("SMTP is away")

    def idle(self) -> bool:
        return self.calls.count("step") >= self.steps_before_idle


def test_it_steps_until_idle_then_finishes_watches_once_more_and_closes() -> None:
    consumer = _Consumer(steps_before_idle=2)
    consumer.run(StopFlag())
    assert consumer.calls == [
        "step",
        "watch False",
        "step",
        "watch False",
        "finish",
        "watch True",
        "close",
    ]


def test_a_stop_while_retrying_leaves_the_batch_and_still_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = _Consumer(steps_before_idle=5, fail_at=2)
    consumer.run(StopFlag())
    assert consumer.calls == ["step", "watch False", "step", "close"]
    assert "left uncommitted for a redo" in caplog.text


def test_a_stop_already_requested_takes_no_step_but_finishes() -> None:
    stop = StopFlag()
    stop.request()
    consumer = _Consumer(steps_before_idle=5)
    consumer.run(stop)
    assert consumer.calls == ["finish", "watch True", "close"]
