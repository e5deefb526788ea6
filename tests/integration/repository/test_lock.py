"""requirements.lock installs the same versions on x86-64 and on aarch64 (an Arm Mac's
Docker builds the image for linux/arm64): pip, resolving for each platform from PyPI
with --require-hashes, finds every locked package's wheel under a locked hash."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.isolated  # PyPI only, no server of the stack


def test_every_locked_package_has_a_wheel_of_a_locked_hash_on_both_architectures() -> None:
    checked = subprocess.run(
        [sys.executable, "scripts/vm_wheels.py", "check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    for architecture in ("x86_64", "aarch64"):
        assert f"a locked wheel for {architecture}" in checked.stdout
