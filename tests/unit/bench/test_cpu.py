"""The CPU budget: a process tree's CPU seconds from /proc, its descendants' included."""

from __future__ import annotations

import subprocess
import sys

from bench.cpu import CpuBudget

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
# A parent that waits while its child burns: the CPU is the child's, counted under the parent;
# then it idles past the budget's next reading (one a second), as a consumer idles to its end.
PARENT = (
    f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {BURN!r}])\n"
    "time.sleep(1.5)\n"
)


def test_a_tree_counts_what_its_descendants_spent_and_a_process_alone_does_not() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    budget = CpuBudget({"tree": parent.pid, "alone": parent.pid}, alone="alone")
    with budget:
        parent.wait(30)
        spent = budget.spent()

    assert spent.seconds["tree"] >= 0.35
    assert spent.seconds["alone"] < 0.2  # the parent only waited
    assert 0 < spent.machine_busy <= spent.machine_all
    assert spent.table(1000)[1].split()[0] == "tree"  # the busiest first
