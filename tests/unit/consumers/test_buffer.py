"""The batch buffer on its own: no Kafka, a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.consumers.buffer import BatchBuffer, Partition

A: Partition = ("t", 0)
B: Partition = ("t", 1)


@dataclass(frozen=True)
class Record:
    at: int

    def offset(self) -> int:
        return self.at


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _buffer(max_records: int = 3, max_seconds: float = 5.0) -> tuple[BatchBuffer[Record], Clock]:
    clock = Clock()
    buffer: BatchBuffer[Record] = BatchBuffer(max_records, max_seconds, clock)
    buffer.assign(A)
    buffer.assign(B)
    return buffer, clock


def _add(buffer: BatchBuffer[Record], partition: Partition, *offsets: int) -> None:
    for offset in offsets:
        buffer.add(partition, Record(offset))


def _offsets(batches: list[tuple[Partition, list[Record]]]) -> list[tuple[Partition, list[int]]]:
    return [(partition, [r.at for r in batch]) for partition, batch in batches]


def test_a_batch_is_due_when_full_and_the_rest_waits() -> None:
    buffer, _ = _buffer(max_records=3)
    _add(buffer, A, 10, 11)
    assert list(buffer.due()) == []
    _add(buffer, A, 12, 13)
    assert _offsets(list(buffer.due())) == [(A, [10, 11, 12])]
    assert len(buffer) == 1


def test_a_batch_is_due_when_its_oldest_record_is_old_enough() -> None:
    buffer, clock = _buffer(max_seconds=5)
    _add(buffer, A, 1)
    clock.now += 4
    _add(buffer, A, 2)
    assert list(buffer.due()) == [] and buffer.seconds_until_due() == 1.0
    clock.now += 1
    assert _offsets(list(buffer.due())) == [(A, [1, 2])]
    assert buffer.seconds_until_due() is None


def test_everything_cuts_whatever_is_buffered_in_batches_of_the_limit() -> None:
    buffer, _ = _buffer(max_records=2)
    _add(buffer, A, 1)
    _add(buffer, B, 5, 6, 7)
    assert sorted(_offsets(list(buffer.due(everything=True)))) == [(A, [1]), (B, [5, 6]), (B, [7])]
    assert len(buffer) == 0


def test_records_that_come_while_batches_are_taken_wait_for_the_next_call() -> None:
    """A consumer goes on fetching while it handles a batch (an upload, a commit's reply):
    what comes for a partition then does not keep the other partitions waiting."""
    buffer, _ = _buffer(max_records=2)
    _add(buffer, A, 1, 2)
    _add(buffer, B, 7, 8)
    taken: list[tuple[Partition, list[int]]] = []
    for partition, batch in buffer.due():
        if not taken:
            _add(buffer, A, 3, 4)  # came while A's batch was handled
        taken.append((partition, [r.at for r in batch]))
    assert taken == [(A, [1, 2]), (B, [7, 8])]
    assert _offsets(list(buffer.due())) == [(A, [3, 4])]


def test_records_of_a_partition_not_owned_are_dropped() -> None:
    buffer, _ = _buffer()
    assert not buffer.add(("t", 9), Record(1))
    _add(buffer, A, 1, 2)
    buffer.revoke(A)
    assert not buffer.owns(A) and not buffer.add(A, Record(3))
    assert list(buffer.due(everything=True)) == []


def test_reassigning_a_partition_forgets_what_was_buffered_of_it() -> None:
    buffer, _ = _buffer()
    _add(buffer, A, 1, 2)
    buffer.assign(A)
    assert list(buffer.due(everything=True)) == []


def test_each_assignment_of_a_partition_has_a_number_of_its_own() -> None:
    buffer, _ = _buffer()
    first = buffer.assignment(A)
    buffer.assign(A)
    again = buffer.assignment(A)
    assert None not in (first, again) and again != first
    assert buffer.assignment(B) != again
    buffer.revoke(A)
    assert buffer.assignment(A) is None


def test_a_redo_batch_ends_exactly_at_the_logged_offset_whatever_the_limits() -> None:
    buffer, clock = _buffer(max_records=2, max_seconds=5)
    buffer.assign(A, redo_until=14)
    _add(buffer, A, 10, 11, 12)
    clock.now += 4
    assert list(buffer.due(everything=True)) == []  # not all of it is here yet
    _add(buffer, A, 13, 14, 15, 16, 17)
    # Then the usual limits: 15 and 16 make a full batch, 17 waits.
    assert _offsets(list(buffer.due())) == [(A, [10, 11, 12, 13, 14]), (A, [15, 16])]
    assert len(buffer) == 1


def test_a_redo_whose_records_are_gone_cuts_as_usual() -> None:
    buffer, _ = _buffer(max_records=2)
    buffer.assign(A, redo_until=4)
    _add(buffer, A, 8, 9)
    assert _offsets(list(buffer.due())) == [(A, [8, 9])]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.sampled_from([A, B]), st.integers(1, 5)),
            st.tuples(st.just("tick"), st.just(A), st.floats(0, 4)),
            st.tuples(st.just("cut"), st.just(A), st.booleans()),
        ),
        max_size=60,
    ),
    max_records=st.integers(1, 7),
)
def test_batches_hold_every_record_once_in_order_and_never_over_the_limit(
    steps: list[tuple[str, Partition, object]], max_records: int
) -> None:
    buffer, clock = _buffer(max_records=max_records, max_seconds=5)
    added: dict[Partition, list[int]] = {A: [], B: []}
    cut: dict[Partition, list[int]] = {A: [], B: []}
    for action, partition, value in steps:
        if action == "add":
            for _ in range(int(value)):  # type: ignore[call-overload]
                added[partition].append(len(added[partition]))
                _add(buffer, partition, added[partition][-1])
        elif action == "tick":
            clock.now += float(value)  # type: ignore[arg-type]
        for part, batch in buffer.due(everything=action == "cut" and bool(value)):
            assert 0 < len(batch) <= max_records
            cut[part] += [record.at for record in batch]
    for part, batch in buffer.due(everything=True):
        cut[part] += [record.at for record in batch]
    assert cut == added
