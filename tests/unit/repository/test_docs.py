"""The README and the guides it links: every link resolves, every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fraudstream.settings.config import Settings
from tests.conftest import REPO_ROOT

PAGES = [
    REPO_ROOT / "README.md",
    REPO_ROOT / "CONTRIBUTING.md",
    *sorted((REPO_ROOT / "docs").rglob("*.md")),
    REPO_ROOT / "BENCHMARKS.md",
    REPO_ROOT / "infrastructure" / "README.md",
    REPO_ROOT / "producer" / "README.md",
    REPO_ROOT / "consumers" / "README.md",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchor for each heading of ``page``."""
    headings = re.findall(r"(?m)^#+ (.+)$", page.read_text())
    return {re.sub(r"[^\w -]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_every_link_to_the_repository_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in _anchors(linked)
        ):
            broken.append(target)
    assert broken == []


def test_the_readme_is_read_in_five_minutes() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_setting_is_documented() -> None:
    guide = (REPO_ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", guide))
    assert {name.upper() for name in Settings.model_fields} - documented == set()
