"""Peak resident memory of processes, from the kernel's high-water mark (VmHWM)."""

from __future__ import annotations

import threading
from pathlib import Path


class PeakMemory:
    """Each process's peak resident memory (the kernel's VmHWM), read every second while
    it runs: the last reading before it exits is its peak. A process with children (the
    members of `consume --processes N`) reports its largest, itself included."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = dict(pids)
        self._peaks: dict[str, float] = {}
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

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for name, pid in list(self._pids.items()):
                for member in (pid, *_children(pid)):
                    if (mb := high_water_mb(member)) is not None:
                        self._peaks[name] = max(mb, self._peaks.get(name, 0.0))


def _children(pid: int) -> list[int]:
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in listed.split()]


def high_water_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None
