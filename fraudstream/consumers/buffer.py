"""Which records form the next batch of each partition (pure: no Kafka, no clock of its own).

Records are kept per partition in arrival order. A partition's batch is due
when it holds ``max_records`` records or its oldest record has waited
``max_seconds``, or at once when everything is to be finished (a stop). A
partition taken over after a crash may have to redo exactly one batch, the
one whose email log is already in the lake: until that batch is cut, its
batch ends at the logged last offset, whatever the limits say.

Records of a partition this member does not own (any more) are dropped:
the partition's new owner reads them again from the last commit. Each
assignment of a partition has a number of its own, so that a batch taken out
under one assignment is known to be stale under the next, even when the
partition came back to this member.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

Partition = tuple[str, int]


class HasOffset(Protocol):
    def offset(self) -> int | None: ...


M = TypeVar("M", bound=HasOffset)


@dataclass
class _Pending(Generic[M]):
    records: list[M] = field(default_factory=list)
    since: float = 0.0  # when the oldest of them arrived


class BatchBuffer(Generic[M]):
    def __init__(
        self, max_records: int, max_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_records, self.max_seconds, self.clock = max_records, max_seconds, clock
        self._owned: dict[Partition, int | None] = {}  # partition -> redo batch's last offset
        self._assignments: dict[Partition, int] = {}  # partition -> its assignment's number
        self._numbers = itertools.count(1)
        self._pending: dict[Partition, _Pending[M]] = {}

    def assign(self, partition: Partition, redo_until: int | None = None) -> None:
        """Own ``partition`` from now on; with ``redo_until``, its first batch ends there."""
        self._owned[partition] = redo_until
        self._assignments[partition] = next(self._numbers)
        self._pending.pop(partition, None)

    def revoke(self, partition: Partition) -> None:
        """Forget ``partition`` and what is buffered of it."""
        self._owned.pop(partition, None)
        self._assignments.pop(partition, None)
        self._pending.pop(partition, None)

    def owns(self, partition: Partition) -> bool:
        return partition in self._owned

    def assignment(self, partition: Partition) -> int | None:
        """The number of the partition's current assignment; None while it is not owned."""
        return self._assignments.get(partition)

    def add(self, partition: Partition, record: M) -> bool:
        """Buffer ``record``; False (and nothing kept) if the partition is not owned."""
        if partition not in self._owned:
            return False
        pending = self._pending.get(partition)
        if pending is None:
            pending = self._pending[partition] = _Pending(since=self.clock())
        pending.records.append(record)
        return True

    def __len__(self) -> int:
        """Records buffered, over all partitions."""
        return sum(len(pending.records) for pending in self._pending.values())

    def seconds_until_due(self) -> float | None:
        """How long until the oldest buffered batch is due by age; None if nothing is buffered."""
        if not self._pending:
            return None
        oldest = min(pending.since for pending in self._pending.values())
        return max(0.0, oldest + self.max_seconds - self.clock())

    def due(self, everything: bool = False) -> Iterator[tuple[Partition, list[M]]]:
        """Each batch due now, partition by partition, taken out of the buffer: of each
        partition, what it held when asked. What comes while the batches are handled (a
        consumer goes on fetching during an upload) waits for the next call, so that a
        partition that keeps coming does not hold the others back."""
        held = {partition: len(pending.records) for partition, pending in self._pending.items()}
        for partition, count in held.items():
            left = count
            while left > 0 and (batch := self._cut(partition, everything)) is not None:
                left -= len(batch)
                yield partition, batch

    def _cut(self, partition: Partition, everything: bool) -> list[M] | None:
        pending = self._pending.get(partition)
        if pending is None:
            return None
        redo_until = self._owned.get(partition)
        if redo_until is not None:
            count = sum(1 for record in pending.records if (record.offset() or 0) <= redo_until)
            last = pending.records[count - 1].offset() or 0 if count else -1
            if count == len(pending.records) and last < redo_until:
                return None  # the redo batch is not all here yet
            self._owned[partition] = None
            if count == 0:  # nothing of the redo range came back: cut as usual
                return self._cut(partition, everything)
        else:
            full = len(pending.records) >= self.max_records
            old = self.clock() - pending.since >= self.max_seconds
            if not (full or old or everything):
                return None
            count = min(len(pending.records), self.max_records)
        batch, rest = pending.records[:count], pending.records[count:]
        if rest:
            pending.records = rest
        else:
            del self._pending[partition]
        return batch
