from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from fraudstream.devstack import process


def test_start_and_stop_by_pid_file(tmp_path: Path) -> None:
    service = process.Service("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    pid = process.start(service, tmp_path)

    assert process.running_pid(tmp_path, "sleeper") == pid
    assert process.stop(tmp_path, "sleeper", grace_seconds=10) is True
    assert process.running_pid(tmp_path, "sleeper") is None
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    assert process.stop(tmp_path, "sleeper") is False  # stopping twice is harmless


def test_a_service_started_through_a_wrapper_that_execs_is_found_and_stopped(
    tmp_path: Path,
) -> None:
    """As PostgreSQL is, through setpriv: the process shows only its own command."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    service = process.Service("wrapped", argv, run_as=["env", "--"])
    pid = process.start(service, tmp_path)
    assert process.running_pid(tmp_path, "wrapped") == pid
    assert process.stop(tmp_path, "wrapped", grace_seconds=10) is True
    assert process.running_pid(tmp_path, "wrapped") is None


def test_a_service_is_running_as_itself_once_start_returns(tmp_path: Path) -> None:
    """A wrapper slow to exec (a loaded machine, a fork not yet exec'd) is not taken for a
    service that has exited: start returns once the process shows its own command."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    slow = ["sh", "-c", 'sleep 0.5; exec "$@"', "sh"]
    pid = process.start(process.Service("slow", argv, run_as=slow), tmp_path)
    assert process.running_pid(tmp_path, "slow") == pid
    assert process.stop(tmp_path, "slow", grace_seconds=10) is True


def test_start_returns_for_a_service_that_dies_before_it_runs(tmp_path: Path) -> None:
    """A command that cannot be run never shows itself: start does not wait the 10 s out."""
    started = time.monotonic()
    missing = process.Service("missing", ["/nonexistent/kafka"], run_as=["env", "--"])
    process.start(missing, tmp_path)
    assert time.monotonic() - started < 5
    assert process.running_pid(tmp_path, "missing") is None


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    # A pid file whose pid now belongs to another program (here: this test run).
    record = process.pid_file(tmp_path, "kafka-1")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"pid": os.getpid(), "argv": ["java", "kafka.Kafka"]}))

    assert process.running_pid(tmp_path, "kafka-1") is None
    assert process.stop(tmp_path, "kafka-1") is False
    time.sleep(0.1)  # still alive to assert: the signal was never sent


def test_output_goes_to_the_service_log(tmp_path: Path) -> None:
    service = process.Service("echo", [sys.executable, "-c", "print('hello from echo')"])
    process.start(service, tmp_path)
    log = process.log_file(tmp_path, "echo")
    deadline = time.monotonic() + 10
    while "hello from echo" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "hello from echo" in log.read_text()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
