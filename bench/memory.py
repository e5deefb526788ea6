"""Peak resident memory of processes, from the kernel's high-water mark (VmHWM), and
their resident memory once a minute (VmRSS), to tell growth that levels off from a leak."""

from __future__ import annotations

import threading
from pathlib import Path


class PeakMemory:
    """Each process's peak resident memory (the kernel's VmHWM), read every second while
    it runs: the last reading before it exits is its peak. A process with children (the
    members of `consume --processes N`) reports its largest, itself included. Once a
    minute it also notes each one's present resident memory, its largest member's."""

    def __init__(self, pids: dict[str, int], every_seconds: int = 60) -> None:
        self._pids = dict(pids)
        self._peaks: dict[str, float] = {}
        self._minutes: dict[str, list[int]] = {}
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def add(self, name: str, pid: int) -> None:
        self._pids[name] = pid

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peaks(self) -> dict[str, float]:
        return {name: round(mb) for name, mb in sorted(self._peaks.items())}

    def resident_by_minute(self) -> dict[str, list[int]]:
        """Each process's resident memory in MB, one reading a minute while it ran."""
        return dict(sorted(self._minutes.items()))

    def _watch(self) -> None:
        ticks = 0
        while not self._stop.wait(1.0):
            ticks += 1
            for name, pid in list(self._pids.items()):
                members = (pid, *_children(pid))
                for member in members:
                    if (mb := high_water_mb(member)) is not None:
                        self._peaks[name] = max(mb, self._peaks.get(name, 0.0))
                if ticks % self._every == 0:
                    self._note_resident(name, members)

    def _note_resident(self, name: str, members: tuple[int, ...]) -> None:
        readings = [mb for member in members if (mb := _status_mb(member, "VmRSS:")) is not None]
        if readings:
            self._minutes.setdefault(name, []).append(round(max(readings)))


def _children(pid: int) -> list[int]:
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in listed.split()]


def high_water_mb(pid: int) -> float | None:
    return _status_mb(pid, "VmHWM:")


def _status_mb(pid: int, field: str) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return None
