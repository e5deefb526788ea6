"""The command line refuses what cannot work before anything runs, in one line."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from fraudstream.wiring import handlers
from fraudstream.wiring.cli import _parser, main


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


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fraudstream: "), lines
    return lines[0]


@pytest.fixture
def nothing_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No server answers: what is cheap to check must be said before any is asked."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    monkeypatch.setenv("CASES_DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite3'}")
    monkeypatch.delenv("CONFIRMATION_TOKEN_KEY", raising=False)
    monkeypatch.delenv("CONSUMER_NOTE_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    (tmp_path / "x.csv").write_text("step,type,amount\n")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["produce", "/no/such.csv"], "no such file: /no/such.csv"),
        (["produce", "x.csv", "--commit-interval", "1"], "give --rate N with it"),
        (["confirmation-service"], "CONFIRMATION_TOKEN_KEY: set it to"),
        (["consume", "non-fraud"], "CONSUMER_NOTE_KEY: set it to"),
        (["cases"], "run `fraudstream migrate`"),
        (["evaluate", "x.csv", "--detector", "gbm", "--models", "empty"], "--models empty"),
        (["report"], "is the emulator running"),
        (["topics"], "cannot reach Kafka at 127.0.0.1:1"),
        (["tail", "fraud_transaction"], "cannot reach Kafka at 127.0.0.1:1"),
        (["replay", "fraud-cases", "--to-start"], "cannot reach Kafka at 127.0.0.1:1"),
    ],
)
@pytest.mark.usefixtures("nothing_running")
def test_the_first_message_names_the_cause_and_the_fix_at_once(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main(argv) != 0
    line = _one_line(capsys)
    assert says in line and len(line) < 300, line
    assert time.monotonic() - started < 15  # not a wait for a server first


def test_a_number_may_be_written_as_people_write_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--rows", "10k", "-o", "x.csv"])
    assert "such as 10000 or 10_000, got '10k'" in capsys.readouterr().err


def test_the_help_says_the_version_the_defaults_and_where_settings_come_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("fraudstream ")
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "-o REPORT, --output REPORT" in shown and "(default: build/detectors.md)" in shown
    assert "KAFKA_BOOTSTRAP_SERVERS" in shown and "``" not in shown
    with pytest.raises(SystemExit):
        main(["produce", "--help"])
    assert "(default: 0/1)" in " ".join(capsys.readouterr().out.split())


def test_o_means_the_file_written_in_every_command() -> None:
    parser = _parser()
    for argv in (["generate", "--rows", "9", "-o", "f"], ["train", "--detector", "gbm", "-o", "f"]):
        assert parser.parse_args(argv).output == Path("f")
    assert parser.parse_args(["evaluate", "x.csv", "--all", "-o", "f"]).report == Path("f")


def _commands() -> dict[str, argparse.ArgumentParser]:
    subcommands = next(
        action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    return dict(subcommands.choices)


def test_every_option_of_every_command_says_what_it_is() -> None:
    unsaid = [
        f"{name} {action.dest}"
        for name, command in _commands().items()
        for action in command._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
    ]
    assert unsaid == []


def test_a_word_where_a_number_goes_says_what_a_number_looks_like(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--rate", "fast"])
    errors = capsys.readouterr().err
    assert "expected a number above 0 such as 300 or 2.5, got 'fast'" in errors
    assert "_positive_float" not in errors


@pytest.mark.usefixtures("nothing_running")
def test_options_that_cannot_go_together_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "x.csv", "--rows", "5"]) == 2
    assert capsys.readouterr().err.strip() == (
        "fraudstream: --rows is for generated rows: give a CSV or --rows, not both"
    )


def test_ctrl_c_ends_a_command_with_130_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(handlers, "generate", interrupted)
    assert main(["generate", "--rows", "5", "-o", "x.csv"]) == 130
    assert capsys.readouterr().err == "fraudstream: interrupted\n"


def test_the_log_level_is_an_option_of_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "INFO")  # so that the test's change is undone after it
    monkeypatch.setattr(handlers, "generate", lambda _args: 0)
    assert main(["--log-level", "debug", "generate", "--rows", "5", "-o", "x.csv"]) == 0
    assert os.environ["LOG_LEVEL"] == "DEBUG"


def test_the_help_gives_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 done; 1 a failure" in shown and "130 interrupted" in shown
