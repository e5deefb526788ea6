"""Where a benchmark's CPU goes: its own process, the local stack's services, the machine.

On a machine whose cores also run the brokers, what a run gets is bounded by
the CPU it and the brokers need for each record: every microsecond the
producer spends parsing is one the brokers do not get. So a benchmark reads
these clocks at the start and at the end of its measured span, and reports
the CPU a record cost each side, beside the rate.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from fraudstream.devstack import layout, process

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuClocks:
    """CPU seconds so far: this process's (every thread), the named services' (the local
    stack's processes, by pid file), and the whole machine's, busy and in all."""

    own: float
    services: float
    machine_busy: float
    machine_all: float

    @classmethod
    def read(cls, services: tuple[str, ...], root: Path | None = None) -> CpuClocks:
        """``services`` by their pid files in ``root`` (by default, the local stack's)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        busy, every = _machine_seconds()
        own = usage.ru_utime + usage.ru_stime
        return cls(own, _services_seconds(services, root or layout.run_dir()), busy, every)

    def per_record(self, later: CpuClocks, records: int) -> dict[str, float]:
        """Microseconds of CPU a record between this reading and ``later``, and the share
        of the machine's cores that were busy meanwhile."""
        seconds = {
            "own_us": later.own - self.own,
            "services_us": later.services - self.services,
            "machine_us": later.machine_busy - self.machine_busy,
        }
        figures = {name: spent * 1e6 / max(records, 1) for name, spent in seconds.items()}
        elapsed = later.machine_all - self.machine_all
        figures["busy_share"] = seconds["machine_us"] / elapsed if elapsed else 0.0
        return figures


def stack_brokers() -> tuple[str, ...]:
    """The local stack's Kafka brokers (``kafka-1`` ...): none when another stack is used."""
    return tuple(sorted(path.stem for path in (layout.run_dir() / "pids").glob("kafka-*.pid")))


def _services_seconds(names: tuple[str, ...], root: Path) -> float:
    total = 0.0
    for name in names:
        pid = process.running_pid(root, name)
        if pid is not None:
            # /proc/<pid>/stat: the fields after the command's ")"; utime and stime are 14 and 15.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def _machine_seconds() -> tuple[float, float]:
    """Busy and all CPU seconds of every core since boot (/proc/stat's first line)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and waiting for I/O
    return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS
