from __future__ import annotations

from fraudstream.payments import parse_block
from fraudstream.producer.checkpoint import Checkpoint, Counts
from fraudstream.producer.preparing import parts as _parts

GOOD = "{step},PAYMENT,1.0,C1,1.0,0.0,M1,0.0,0.0,0,0"


def _block(steps: list[int | None], first_line: int = 10):  # type: ignore[no-untyped-def]
    lines = [GOOD.format(step=s) if s is not None else "broken" for s in steps]
    return parse_block(("\n".join(lines) + "\n").encode(), first_line)


def test_without_pacing_a_block_is_one_part() -> None:
    block = _block([1, 1, 2, None, 3])
    parts = list(_parts(block, end_line=15, by_step=False))
    assert len(parts) == 1
    assert parts[0].end_line == 15 and parts[0].block.num_rows == 4


def test_with_pacing_each_step_is_a_part_and_every_line_is_covered_once() -> None:
    block = _block([1, 1, None, 2, 2, 3, None])
    parts = list(_parts(block, end_line=17, by_step=True))
    assert [p.step for p in parts] == [1, 2, 3]
    assert [p.end_line for p in parts] == [13, 15, 17]
    assert [p.block.lines.tolist() for p in parts] == [[10, 11], [13, 14], [15]]
    assert [[r.line for r in p.block.rejected] for p in parts] == [[12], [], [16]]


def test_between_keeps_rows_and_rejects_in_the_range() -> None:
    block = _block([1, None, 2, 3])
    part = block.between(11, 13)
    assert part.lines.tolist() == [12]
    assert [r.line for r in part.rejected] == [11]
    assert block.between(0, None).num_rows == 3


def test_checkpoints_round_trip_and_add_up() -> None:
    start = Checkpoint("gs://b/o.csv", 1000, 120, 2, 2)
    moved = start.advanced(500, 40, 41, Counts(30, 1, 29, 9)).advanced(
        900, 80, 81, Counts(40, 0, 40, 0)
    )
    assert moved.counts == Counts(70, 1, 69, 9)
    assert (moved.offset, moved.first_line, moved.next_line) == (900, 80, 81)
    assert Checkpoint.from_bytes(moved.to_bytes()) == moved
