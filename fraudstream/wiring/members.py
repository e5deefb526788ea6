"""Members of one consumer group in processes of their own, under one parent.

A Python consumer is held to about one core by the GIL; N processes of the
same group share the partitions (and the cores) between them. The parent
forwards SIGTERM and SIGINT to every member, and once one member fails it
stops the others and exits non-zero, so that a supervisor (systemd) restarts
the whole set. Members run in their own process group: a Ctrl-C in a terminal
reaches them once, through the parent.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger("fraudstream.members")

FORWARDED = (signal.SIGTERM, signal.SIGINT)


def run_members(
    command: Sequence[str], count: int, environment: Callable[[int], dict[str, str]]
) -> int:
    """Run ``count`` copies of ``command`` (member i with ``environment(i)``) until all have
    exited; 0 if every one exited 0, else 1."""
    running: dict[int, tuple[int, subprocess.Popen[bytes]]] = {}  # by pid: index, process

    def forward(signum: int, _frame: FrameType | None) -> None:
        for _, child in running.values():
            child.send_signal(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    for index in range(count):
        child = subprocess.Popen(command, env=environment(index), process_group=0)
        running[child.pid] = (index, child)
    failed = False
    while running:
        pid, status = os.wait()
        if pid not in running:
            continue
        index, child = running.pop(pid)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0 and not failed:
            failed = True
            log.error(
                "member failed; stopping the others",
                extra={"member": index, "exit_code": child.returncode},
            )
            for _, other in running.values():
                other.terminate()
    return 1 if failed else 0


def member_environment(metrics_port: int | None) -> Callable[[int], dict[str, str]]:
    """Each member's environment: this one's, with a metrics port of its own (the given
    port plus the member's index) when metrics are served."""

    def environment(index: int) -> dict[str, str]:
        if metrics_port is None:
            return dict(os.environ)
        return {**os.environ, "METRICS_PORT": str(metrics_port + index)}

    return environment
