"""The parent of a consumer group's member processes: signals forwarded, failures reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fraudstream.wiring.members import member_environment, run_members

# A member: writes "<index> started", then on SIGTERM "<index> stopped" and exits 0;
# a member whose index is FAIL_INDEX exits 3 a moment later (the others started by then).
MEMBER = """
import os, signal, sys, time
index = os.environ["MEMBER"]
out = open(os.environ["OUT"], "a")
def stop(signum, frame):
    out.write(f"{index} stopped\\n"); out.flush(); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
out.write(f"{index} started\\n"); out.flush()
if index == os.environ.get("FAIL_INDEX"):
    time.sleep(1)
    sys.exit(3)
time.sleep(60)
sys.exit(5)
"""

# The parent, as `fraudstream consume --processes 3` runs it.
PARENT = """
import os, sys
from fraudstream.wiring.members import run_members
environment = lambda index: {**os.environ, "MEMBER": str(index)}
sys.exit(run_members([sys.executable, "-c", sys.argv[1]], 3, environment))
"""


def _start_parent(out: Path, **environment: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PARENT, MEMBER],
        env={**os.environ, "OUT": str(out), "PYTHONPATH": os.getcwd(), **environment},
    )


def _lines(out: Path, count: int) -> set[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = set(out.read_text().splitlines()) if out.exists() else set()
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{out.read_text() if out.exists() else ''}: not {count} lines")


def test_sigterm_to_the_parent_stops_every_member_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "out"
    parent = _start_parent(out)
    _lines(out, 3)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(20) == 0
    assert _lines(out, 6) >= {"0 stopped", "1 stopped", "2 stopped"}


def test_a_failed_member_stops_the_others_and_the_parent_exits_non_zero(tmp_path: Path) -> None:
    out = tmp_path / "out"
    parent = _start_parent(out, FAIL_INDEX="1")
    assert parent.wait(20) == 1
    lines = _lines(out, 5)
    assert {"0 stopped", "2 stopped"} <= lines and "1 stopped" not in lines


def test_every_member_exiting_0_is_a_parent_exiting_0() -> None:
    quick = [sys.executable, "-c", "import sys; sys.exit(0)"]
    assert run_members(quick, 2, lambda _index: dict(os.environ)) == 0


def test_each_member_serves_metrics_on_a_port_of_its_own() -> None:
    environment = member_environment(9102)
    assert [environment(index)["METRICS_PORT"] for index in range(3)] == ["9102", "9103", "9104"]
    assert member_environment(None)(0) == dict(os.environ)
