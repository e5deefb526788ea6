"""Start background services and stop exactly the ones we started, by pid file.

A pid file records the pid and the command line. Before signalling a pid we
check that ``/proc/<pid>/cmdline`` still shows that command, so a pid that
the kernel has since handed to another program is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Service:
    """One process of the stack: how to run it and where it logs."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # A command that execs ``argv`` as another user (setpriv): run before it, but not
    # part of what the process shows once it runs, which is what the pid file records.
    run_as: list[str] = field(default_factory=list)


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / "pids" / f"{name}.pid"


def log_file(run_dir: Path, name: str) -> Path:
    return run_dir / "logs" / f"{name}.log"


def start(service: Service, run_dir: Path) -> int:
    """Start ``service`` in its own session, detached from ours; return its pid."""
    log_path = log_file(run_dir, service.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*service.run_as, *service.argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=service.cwd,
            env={**os.environ, **service.env},
            start_new_session=True,
        )
    record = pid_file(run_dir, service.name)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": process.pid, "argv": service.argv}))
    _wait_for_exec(process.pid, service.argv)
    return process.pid


def _wait_for_exec(pid: int, argv: list[str], timeout_seconds: float = 10.0) -> None:
    """Until the new process shows its own command (or has died): between fork and exec,
    and while a ``run_as`` wrapper runs, it shows another, and ``running_pid`` would
    take a service that is starting for one that has exited."""
    deadline = time.monotonic() + timeout_seconds
    while _alive(pid) and not _is_ours_and_alive(pid, argv) and time.monotonic() < deadline:
        time.sleep(0.01)


def running_pid(run_dir: Path, name: str) -> int | None:
    """The pid of our ``name`` process if it is still alive, else None."""
    record = pid_file(run_dir, name)
    try:
        saved = json.loads(record.read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid = int(saved["pid"])
    return pid if _is_ours_and_alive(pid, saved["argv"]) else None


def stop(run_dir: Path, name: str, grace_seconds: float = 20.0) -> bool:
    """SIGTERM our ``name`` process group, SIGKILL it after the grace period.

    Returns True if a process was stopped. The pid file is removed either way.
    """
    pid = running_pid(run_dir, name)
    pid_file(run_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    _signal_group(pid, signal.SIGKILL)
    return True


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # The service leads its own session (start_new_session), so its group id
    # is its pid; signalling the group also reaches any helper it forked.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _is_ours_and_alive(pid: int, argv: list[str]) -> bool:
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return [part.decode(errors="replace") for part in cmdline[: len(argv)]] == argv


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    if state == "Z":
        _reap(pid)
        return False
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
