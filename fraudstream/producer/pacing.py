"""When each part of the file goes out, and when its transaction closes.

Three ways to release the rows:
- as fast as possible (``AsFastAsPossible``): a block is one part; a transaction
  closes once it holds PRODUCER_ROWS_PER_TRANSACTION lines;
- a PaySim step at a time (``BySteps``, ``--speed``): each step is a part,
  released ``1/speed`` seconds after the one before, and committed on its own;
  ``event_time`` stays on PaySim's calendar;
- live (``Live``, ``--rate``): parts of about 10 ms of payments each, released
  on an even schedule of ``rate`` payments a second, each stamped with its
  moment on the schedule (``event_time``: when the payment is authorised), and
  a transaction committed at least every ``commit_interval`` seconds, as Kafka
  Streams does under exactly-once. A part the producer sends late (it was
  committing) keeps its stamp: the delay counts in every latency measured
  from ``event_time``, and the schedule does not drift.

Live parts are made ready (assessed and encoded) when they are released, on
the producer's own thread; the others ahead of time, on the prefetch thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from fraudstream.paysim.payments import Block

LIVE_SLICE_SECONDS = 0.01  # a live part holds this long's worth of payments


@dataclass(frozen=True)
class Part:
    """Rows of a block sent together, covering the lines before ``end_line``."""

    block: Block
    end_line: int
    step: int | None = None


class AsFastAsPossible:
    """Every block at once, in transactions closed by their size."""

    prepares_ahead = True
    commits_every_part = False
    stamps_release = False

    def cut(self, block: Block, end_line: int) -> Iterator[Part]:
        yield Part(block, end_line)

    def wait_for(self, part: Part) -> float | None:
        """Wait for the part's turn; return the moment it was due, if it was scheduled.
        Parts go at once here: nothing to wait for."""
        return None

    def next_release(self) -> float | None:
        return None

    def commit_due(self, since: float, at: float | None = None) -> bool:
        """Whether the open transaction must be committed by ``at`` (now), the last commit
        having begun at ``since``."""
        return False


class BySteps(AsFastAsPossible):
    """A PaySim step at a time, each ``1/speed`` seconds after the one before, a
    transaction each."""

    commits_every_part = True

    def __init__(
        self,
        speed: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.speed, self.clock, self.sleep = speed, clock, sleep
        self._origin: tuple[float, int] | None = None  # the first step, and when it went

    def cut(self, block: Block, end_line: int) -> Iterator[Part]:
        if block.num_rows == 0:
            yield Part(block, end_line)
            return
        steps = block.rows["step"].to_numpy()
        starts = np.flatnonzero(np.diff(steps, prepend=steps[0] - 1)).tolist()
        for start, part in zip(starts, _cut_at(block, end_line, starts), strict=True):
            yield Part(part.block, part.end_line, int(steps[start]))

    def wait_for(self, part: Part) -> float | None:
        if part.step is None:
            return None
        if self._origin is None:
            self._origin = (self.clock(), part.step)
        began, first_step = self._origin
        due = began + (part.step - first_step) / self.speed
        _sleep_until(due, self.clock, self.sleep)
        return due


class Live(AsFastAsPossible):
    """``rate`` payments a second, evenly; a transaction at least every ``commit_interval``."""

    prepares_ahead = False
    stamps_release = True

    def __init__(
        self,
        rate: float,
        commit_interval: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.commit_interval = rate, commit_interval
        self.clock, self.sleep = clock, sleep
        self.slice_rows = max(1, round(rate * LIVE_SLICE_SECONDS))
        self._released = 0  # payments gone so far
        self._origin: float | None = None  # when the first part went

    def cut(self, block: Block, end_line: int) -> Iterator[Part]:
        """Parts of ``slice_rows`` payments each."""
        if block.num_rows == 0:
            yield Part(block, end_line)
            return
        yield from _cut_at(block, end_line, range(0, block.num_rows, self.slice_rows))

    def wait_for(self, part: Part) -> float | None:
        """Until the part's turn: its first payment's place in the run over ``rate``. A
        part late for its turn (the producer was committing) goes at once, and the
        schedule does not move: the parts after it catch up."""
        if self._origin is None:
            self._origin = self.clock()
        due = self._origin + self._released / self.rate
        _sleep_until(due, self.clock, self.sleep)
        self._released += part.block.num_rows
        return due

    def next_release(self) -> float | None:
        """When the next part goes, once the first has gone."""
        return None if self._origin is None else self._origin + self._released / self.rate

    def commit_due(self, since: float, at: float | None = None) -> bool:
        """Every ``commit_interval`` from the start of the last commit: commits follow each
        other that often, however long each takes (as long as it takes less)."""
        return (self.clock() if at is None else at) - since >= self.commit_interval


Pacing = AsFastAsPossible | BySteps | Live


def pacing_for(speed: float | None, rate: float | None, commit_interval: float) -> Pacing:
    """The pacing the run's options ask for (``--speed``, ``--rate``, or neither)."""
    if rate is not None:
        return Live(rate, commit_interval)
    if speed is not None:
        return BySteps(speed)
    return AsFastAsPossible()


def _cut_at(block: Block, end_line: int, starts: Sequence[int]) -> Iterator[Part]:
    """Parts beginning at the rows of index ``starts`` (the first is 0); the first part
    also covers the rejects before its rows, the last one those up to ``end_line``."""
    for index, start in enumerate(starts):
        last = index + 1 == len(starts)
        part_end = end_line if last else int(block.lines[starts[index + 1]])
        first_line = 0 if index == 0 else int(block.lines[start])
        yield Part(block.between(first_line, part_end), part_end)


def _sleep_until(moment: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
    if (delay := moment - clock()) > 0:
        sleep(delay)
