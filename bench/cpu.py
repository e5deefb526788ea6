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
import time
from dataclasses import dataclass
from pathlib import Path

from fraudstream.devstack import layout, process
from fraudstream.wiring.live_view import Periodic

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


def stack_services(root: Path | None = None) -> dict[str, int]:
    """Every running process of the local stack, by name (``kafka-1`` ... ``prometheus``)."""
    root = root or layout.run_dir()
    found = {}
    for path in sorted((root / "pids").glob("*.pid")):
        pid = process.running_pid(root, path.stem)
        if pid is not None:
            found[path.stem] = pid
    return found


class CpuBudget(Periodic):
    """The CPU seconds each named process tree spends from when this is made until
    ``spent``: a process's own, its descendants' (PostgreSQL's backends, a consumer's
    members), live or reaped; and the whole machine's busy and idle time meanwhile. Read
    every second while in a ``with`` block, so that a process that ended meanwhile counts
    with its last reading."""

    def __init__(self, processes: dict[str, int], alone: str | None = None) -> None:
        """``alone`` names a process counted without its descendants (the benchmark's own,
        whose children are counted under their names)."""
        super().__init__(interval=1.0)
        self.processes, self.alone = processes, alone
        self.started = time.monotonic()
        self.start = _tree_seconds(processes, alone)
        self.last = dict(self.start)
        self.machine_start = _machine_seconds()

    def add(self, name: str, pid: int) -> None:
        """A process started since: all its CPU seconds count."""
        self.processes[name] = pid
        self.start[name] = self.last[name] = 0.0

    def tick(self) -> None:
        self.last.update(_tree_seconds(self.processes, self.alone))

    def spent(self) -> Spent:
        self.tick()
        busy, every = _machine_seconds()
        return Spent(
            seconds={name: self.last[name] - self.start[name] for name in self.start},
            wall=time.monotonic() - self.started,
            machine_busy=busy - self.machine_start[0],
            machine_all=every - self.machine_start[1],
        )


@dataclass(frozen=True)
class Spent:
    seconds: dict[str, float]  # CPU seconds by process tree
    wall: float
    machine_busy: float  # CPU seconds every core was busy, all processes
    machine_all: float  # CPU seconds every core had

    def table(self, payments: int) -> list[str]:
        """Each tree's CPU seconds per 1,000 payments and its share of one core, busiest
        first; then what they sum to beside what the cores gave, and the idle share."""
        thousands = max(payments, 1) / 1000
        lines = [f"{'CPU budget':<28}{'s/1,000':>9}{'of a core':>11}"]
        for name, seconds in sorted(self.seconds.items(), key=lambda item: -item[1]):
            share = seconds / self.wall if self.wall else 0.0
            lines.append(f"  {name:<26}{seconds / thousands:>9.3f}{share:>11.0%}")
        cores = os.cpu_count() or 1
        given = self.machine_all / thousands
        lines.append(
            f"  {'these processes':<26}{sum(self.seconds.values()) / thousands:>9.3f}"
            f"   the machine: {self.machine_busy / thousands:.3f} busy of {given:.3f} "
            f"({cores} cores), {1 - self.machine_busy / max(self.machine_all, 1e-9):.0%} idle"
        )
        return lines


def _tree_seconds(roots: dict[str, int], alone: str | None) -> dict[str, float]:
    """CPU seconds of each root's process tree: the root's own and reaped children's, and
    every live descendant's own and reaped children's; for ``alone``, its own only."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.parent, []).append(pid)
    found = {}
    for name, root in roots.items():
        if root not in stats:
            continue
        if name == alone:
            found[name] = stats[root].own
            continue
        total, pending = 0.0, [root]
        while pending:
            pid = pending.pop()
            total += stats[pid].own + stats[pid].reaped
            pending.extend(children.get(pid, []))
        found[name] = total
    return found


@dataclass(frozen=True)
class _Stat:
    parent: int
    own: float  # CPU seconds, user and system
    reaped: float  # its children's that ended and were waited for


def _all_stats() -> dict[int, _Stat]:
    """Every process's parent and CPU seconds (/proc/PID/stat: after the command's ")",
    ppid is field 4, utime, stime, cutime and cstime 14-17)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
        own, reaped = (int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
        stats[int(entry.name)] = _Stat(int(fields[1]), own / _TICKS, reaped / _TICKS)
    return stats
