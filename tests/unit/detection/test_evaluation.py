"""``fraudstream evaluate`` on the real sample: the report, its figure, and its honesty."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.detection.detectors import BUILT_IN
from fraudstream.settings.config import load_settings
from fraudstream.wiring import detecting


@pytest.fixture(scope="module")
def report(
    trained: dict[str, bytes], paysim_sample: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    models = tmp_path_factory.mktemp("models")
    for name, model in trained.items():
        (models / f"{name}.onnx").write_bytes(model)
    path = tmp_path_factory.mktemp("docs") / "detectors.md"
    detecting.evaluate(
        load_settings(),
        paysim_sample,
        list(BUILT_IN),
        models=models,
        report=path,
        command="fraudstream evaluate SAMPLE --all",
        say=lambda _line: None,
    )
    return path


def test_the_report_measures_every_detector(report: Path) -> None:
    text = report.read_text()
    assert "2,688 real rows, 16 of them fraud" in text
    assert "fraudstream evaluate SAMPLE --all" in text
    for name in BUILT_IN:
        assert f"| `{name}` |" in text and f"## `{name}`" in text
    assert "| `label` | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 16 | 0 | 0 |" in text
    # 900 flags nearly every row: the report shows what the simple threshold costs.
    threshold = next(line for line in text.splitlines() if line.startswith("| `threshold` |"))
    assert float(threshold.split("|")[2]) < 0.05
    assert "| CASH_OUT |" in text and "| fraud |" in text and "| genuine |" in text


def test_the_report_says_by_how_much_the_goal_is_missed_and_why(report: Path) -> None:
    text = report.read_text()
    assert "**Goal: precision ≥ 0.99 and recall ≥ 0.97.**" in text
    assert "It misses the goal: recall is" in text
    # The two real frauds no authorisation-time field tells from genuine rows.
    assert "| 1 | CASH_OUT | 416001.33 | 0.0 | 0.0 | an empty account on both sides |" in text
    assert "so do 263 genuine CASH_OUT rows" in text
    assert "Trained on 150,000 generated rows (seed 1)" in text


def test_the_figure_is_a_png(report: Path) -> None:
    figure = report.with_name("detectors-pr.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![precision-recall curves](detectors-pr.png)" in report.read_text()
