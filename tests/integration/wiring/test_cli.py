"""What a person sees when a command cannot work: one line that says what to do, an exit
code that says it failed, and never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fraudstream.settings.config import Settings
from tests.integration.pipeline import run_command


def _one_line(finished: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in finished.stderr, finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.startswith("fraudstream: ")]
    assert len(lines) == 1, finished.stderr
    return lines[0]


@pytest.mark.parametrize("kind", ["non-fraud", "fraud"])
def test_a_consumer_without_its_topics_says_to_run_setup(
    bare_settings: Settings, kind: str
) -> None:
    finished = run_command(bare_settings, "consume", kind, "--idle-exit", "1")
    assert finished.returncode == 1
    line = _one_line(finished)
    assert "does not exist" in line and "fraudstream setup" in line


def test_the_confirmation_service_without_its_topic_says_to_run_setup(
    bare_settings: Settings,
) -> None:
    finished = run_command(bare_settings, "confirmation-service")
    assert finished.returncode == 1
    assert "fraudstream setup" in _one_line(finished)


def test_setup_then_the_producer_finds_what_it_needs(
    bare_settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "two-rows.csv"
    assert run_command(bare_settings, "generate", "--rows", "2", "-o", str(source)).returncode == 0
    refused = run_command(bare_settings, "produce", str(source))
    assert refused.returncode == 1 and "fraudstream setup" in _one_line(refused)

    setup = run_command(bare_settings, "setup")
    assert setup.returncode == 0, setup.stderr
    assert f"topic  {bare_settings.fraud_topic} created" in setup.stdout
    produced = run_command(bare_settings, "produce", str(source))
    assert produced.returncode == 0, produced.stderr
    assert "complete" in produced.stderr


@pytest.mark.parametrize(
    ("detector", "says"),
    [
        ("bogus", "DETECTOR: no detector 'bogus': use one of label, threshold, rules, logreg"),
        ("no_such_module:Detector", "cannot import no_such_module"),
        ("fraudstream.paysim.records:Nothing", "fraudstream.paysim.records has no Nothing"),
    ],
)
def test_a_bad_detector_is_named_before_anything_runs(
    settings: Settings, tmp_path: Path, detector: str, says: str
) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("step\n")
    finished = run_command(settings, "produce", str(source), detector=detector)
    assert finished.returncode == 2
    assert says in _one_line(finished)


def test_a_file_that_is_not_paysim_is_one_line(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "other.csv"
    source.write_text("a,b,c\n1,2,3\n")
    finished = run_command(settings, "produce", str(source))
    assert finished.returncode == 1
    assert "PaySim" in _one_line(finished)


def test_a_missing_source_object_is_one_line(settings: Settings) -> None:
    finished = run_command(settings, "produce", f"gs://{settings.dataset_bucket}/no-such.csv")
    assert finished.returncode == 1
    assert "no such object" in _one_line(finished)


def test_a_model_detector_without_a_usable_model_says_so_in_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("step\n")
    missing = tmp_path / "gbm.onnx"
    finished = run_command(
        settings, "produce", str(source), detector="gbm", detector_model=str(missing)
    )
    assert finished.returncode == 2
    line = _one_line(finished)
    assert f"DETECTOR_MODEL: no model at {missing}" in line
    assert "fraudstream train --detector gbm" in line
    missing.write_bytes(b"\x80\x04\x95 a pickle is never loaded")
    finished = run_command(
        settings, "produce", str(source), detector="gbm", detector_model=str(missing)
    )
    assert finished.returncode == 2
    assert "DETECTOR_MODEL: not an ONNX model" in _one_line(finished)
