"""What ``python -m fraudstream.devstack`` says where no stack runs: each command one line,
and an exit status a script can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.devstack.cli import main


@pytest.fixture(autouse=True)
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_HOME", str(tmp_path / "devstack"))


def test_status_says_no_stack_runs_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 1
    assert capsys.readouterr().out == "the stack is not running\n"


def test_env_prints_nothing_to_evaluate_and_says_how_to_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["env"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.strip().endswith("'python -m fraudstream.devstack up'")


def test_down_without_a_stack_stops_nothing_and_succeeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["down"]) == 0
    assert capsys.readouterr().err == "nothing of this stack was running\n"
