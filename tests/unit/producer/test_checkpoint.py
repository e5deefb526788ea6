from __future__ import annotations

from fraudstream.producer.checkpoint import Checkpoint, Counts


def test_checkpoints_round_trip_and_add_up() -> None:
    start = Checkpoint("gs://b/o.csv", 1000, 120, 2, 2)
    moved = start.advanced(500, 40, 41, Counts(30, 1, 29, 9)).advanced(
        900, 80, 81, Counts(40, 0, 40, 0)
    )
    assert moved.counts == Counts(70, 1, 69, 9)
    assert (moved.offset, moved.first_line, moved.next_line) == (900, 80, 81)
    assert Checkpoint.from_bytes(moved.to_bytes()) == moved
