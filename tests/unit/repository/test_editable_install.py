"""The editable install ``make install`` makes (``editable_mode=compat``: a path file
naming the checkout, no import hook) serves type checkers and editors as well as Python:
from outside the checkout, mypy finds each module at the path git shows, typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fraudstream
from tests.conftest import REPO_ROOT


def test_mypy_outside_the_checkout_finds_the_package_where_git_has_it(tmp_path: Path) -> None:
    if Path(fraudstream.__file__).resolve().parent != REPO_ROOT / "fraudstream":
        pytest.skip("fraudstream is not installed editable from this checkout")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from fraudstream.consumers.loop import BatchConsumer\nreveal_type(BatchConsumer)\n"
    )
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", str(probe)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
    assert "fraudstream.consumers.handlers.Handler" in checked.stdout
