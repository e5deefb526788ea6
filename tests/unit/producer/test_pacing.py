from __future__ import annotations

import numpy as np
import pytest

from fraudstream.paysim.payments import parse_block
from fraudstream.producer.pacing import AsFastAsPossible, BySteps, Live

GOOD = "{step},PAYMENT,1.0,C1,1.0,0.0,M1,0.0,0.0,0,0"


def _block(steps: list[int | None], first_line: int = 10):  # type: ignore[no-untyped-def]
    lines = [GOOD.format(step=s) if s is not None else "broken" for s in steps]
    return parse_block(("\n".join(lines) + "\n").encode(), first_line)


def test_without_pacing_a_block_is_one_part() -> None:
    block = _block([1, 1, 2, None, 3])
    parts = list(AsFastAsPossible().cut(block, end_line=15))
    assert len(parts) == 1
    assert parts[0].end_line == 15 and parts[0].block.num_rows == 4


def test_with_pacing_each_step_is_a_part_and_every_line_is_covered_once() -> None:
    block = _block([1, 1, None, 2, 2, 3, None])
    parts = list(BySteps(speed=1).cut(block, end_line=17))
    assert [p.step for p in parts] == [1, 2, 3]
    assert [p.end_line for p in parts] == [13, 15, 17]
    assert [p.block.lines.tolist() for p in parts] == [[10, 11], [13, 14], [15]]
    assert [[r.line for r in p.block.rejected] for p in parts] == [[12], [], [16]]


def test_live_parts_hold_ten_milliseconds_of_payments_and_cover_every_line_once() -> None:
    steps: list[int | None] = [1] * 25
    steps[4] = steps[17] = None
    block = _block(steps)
    parts = list(Live(rate=1000, commit_interval=0.1).cut(block, end_line=35))
    assert [p.block.num_rows for p in parts] == [10, 10, 3]
    covered = sorted(
        [*(line for p in parts for line in p.block.lines.tolist())]
        + [r.line for p in parts for r in p.block.rejected]
    )
    assert covered == list(range(10, 35))
    assert [p.end_line for p in parts] == [21, 32, 35]


class FakeClock:
    """A clock that ``time.sleep`` moves on."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_live_payments_are_stamped_evenly_and_the_producer_catches_up_after_a_stall() -> None:
    """Any 100 ms window holds rate/10 payments, +-10 %, by their stamps; a commit that
    stalls the producer 30 ms every 100 ms delays the parts after it, and no more."""
    clock = FakeClock()
    live = Live(rate=1000, commit_interval=0.1, clock=clock, sleep=clock.sleep)
    parts = list(live.cut(_block([1] * 5000), end_line=5010))
    stamps, lags = [], []
    for index, part in enumerate(parts):
        due = live.wait_for(part)
        assert due is not None
        stamps.append(due)
        lags.append(clock.now - due)
        if index % 10 == 9:
            clock.now += 0.03
    payments = np.repeat(stamps, [p.block.num_rows for p in parts])
    assert payments[-1] - payments[0] == pytest.approx(4.99)
    for start in np.arange(payments[0], payments[-1] - 0.1, 0.013):
        in_window = np.count_nonzero((payments >= start) & (payments < start + 0.1))
        assert 90 <= in_window <= 110, (start, in_window)
    # After each stall (but the last, which nothing follows), the two parts due within it
    # go late, and the third on time.
    assert max(lags) == pytest.approx(0.02)
    assert sum(lag > 1e-9 for lag in lags) == 2 * (len(parts) // 10 - 1)


def test_a_live_transaction_is_due_after_the_commit_interval() -> None:
    clock = FakeClock()
    live = Live(rate=1000, commit_interval=0.1, clock=clock)
    assert not live.commit_due(since=clock.now)
    assert live.commit_due(since=clock.now, at=clock.now + 0.1)
    clock.now += 0.1
    assert live.commit_due(since=clock.now - 0.1)
    assert not AsFastAsPossible().commit_due(since=0.0)


def test_between_keeps_rows_and_rejects_in_the_range() -> None:
    block = _block([1, None, 2, 3])
    part = block.between(11, 13)
    assert part.lines.tolist() == [12]
    assert [r.line for r in part.rejected] == [11]
    assert block.between(0, None).num_rows == 3
