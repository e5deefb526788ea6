"""What a producer run is asked to do, and what it reports when it ends."""

from __future__ import annotations

from dataclasses import dataclass

from fraudstream.paysim.source import WHOLE_FILE, Shard
from fraudstream.producer.checkpoint import Counts


@dataclass(frozen=True)
class RunOptions:
    source: str
    speed: float | None = None  # PaySim steps (hours) per second; None: as fast as possible
    rate: float | None = None  # live: payments a second, each stamped at its release
    commit_interval: float = 0.1  # live: seconds a transaction stays open at most
    limit: int | None = None  # at most this many lines in this run
    from_start: bool = False  # ignore the checkpoint
    shard: Shard = WHOLE_FILE  # the share of the file's lines this run produces


@dataclass(frozen=True)
class Summary:
    source: str
    this_run: Counts
    total: Counts
    seconds: float
    complete: bool
    next_line: int

    @property
    def rows_per_second(self) -> float:
        lines = self.this_run.good + self.this_run.rejected
        return lines / self.seconds if self.seconds else 0.0
