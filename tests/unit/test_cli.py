"""The command line refuses what cannot work before anything runs, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from wiring.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["produce", "x.csv", "--speed", "0"],
        ["produce", "x.csv", "--speed", "-1"],
        ["produce", "x.csv", "--speed", "inf"],
        ["produce", "x.csv", "--limit", "0"],
        ["consume", "fraud", "--idle-exit", "-5"],
        ["generate", "--rows", "0", "-o", "x.csv"],
        ["demo", "--rows", "-3"],
    ],
)
def test_numbers_that_cannot_work_are_refused_by_name(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    errors = capsys.readouterr().err
    assert "above 0" in errors and "Traceback" not in errors


def test_a_file_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["generate", "--rows", "1", "-o", str(tmp_path / "taken" / "x.csv")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fraudstream: ")
