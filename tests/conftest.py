"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.detection.training import train

REPO_ROOT = Path(__file__).resolve().parent.parent
PAYSIM_DIR = REPO_ROOT.parent / "shared" / "data" / "paysim"


@pytest.fixture(scope="session")
def paysim_sample() -> Path:
    """The first 2,688 real PaySim rows (CC BY-SA 4.0), kept beside the repository."""
    path = PAYSIM_DIR / "paysim_head_2688.csv"
    if not path.is_file():
        pytest.skip(f"the real PaySim sample is not at {path} (it lives in ../shared, not here)")
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder's tier on each test: tests/integration needs servers, tests/infra reads
    the Terraform plans."""
    for item in items:
        folder = item.path.relative_to(REPO_ROOT / "tests").parts[0]
        if folder == "integration":
            item.add_marker(pytest.mark.integration)
        elif folder == "infra":
            item.add_marker(pytest.mark.cloud)


TRAINED_ROWS = 150_000


@pytest.fixture(scope="session")
def trained() -> dict[str, bytes]:
    """Each model detector trained on 150,000 generated rows (seed 1): small, so quick."""
    return {name: train(name, rows=TRAINED_ROWS, seed=1) for name in ("logreg", "gbm", "iforest")}
