"""A partition's lake batch while it gathers: the slices already emailed, waiting to be
written as one object per folder (pure: no Kafka, no lake)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fraudstream.storage.batches import BatchKey

Partition = tuple[str, int]
LogEntry = dict[str, Any]


@dataclass
class LakeBatch:
    """What the slices taken since ``first_offset`` left for the lake."""

    partition: Partition
    first_offset: int
    emailed_through: int | None = None  # the last offset whose email is done, if any
    started: float = field(default_factory=time.monotonic)
    committed_at: float | None = None  # monotonic: when its last commit Kafka took was sent
    last_offset: int = -1
    taken: int = 0  # records, dead letters included
    dead: int = 0
    lines: list[bytes] = field(default_factory=list)  # the records, as the lake keeps them
    entries: list[LogEntry] = field(default_factory=list)  # the email log
    live_times: list[datetime | int] = field(default_factory=list)  # live payments' times
    write_now: bool = False  # its slices' note is not in Kafka: the lake must say what went

    def add_slice(
        self,
        last_offset: int,
        *,
        taken: int,
        lines: list[bytes],
        entries: list[LogEntry],
        dead: int,
        live: list[datetime | int],
    ) -> None:
        self.last_offset, self.taken, self.dead = last_offset, self.taken + taken, self.dead + dead
        self.lines += lines
        self.entries += entries
        self.live_times += live

    def committed_within(self, seconds: float) -> bool:
        return self.committed_at is not None and time.monotonic() - self.committed_at < seconds

    def key(self) -> BatchKey:
        return BatchKey(*self.partition, self.first_offset, self.last_offset)

    def due(self, max_records: int, max_seconds: float, now: float) -> bool:
        """It holds ``max_records``, its first slice was taken ``max_seconds`` ago, or it
        must be written now."""
        return self.write_now or self.taken >= max_records or now - self.started >= max_seconds

    def log_with(self, logged: dict[str, LogEntry]) -> list[LogEntry]:
        """Its email log, and after it each entry of ``logged`` (a redo's) not reached yet."""
        reached = {entry["transaction_id"] for entry in self.entries}
        return self.entries + [e for tid, e in logged.items() if tid not in reached]
