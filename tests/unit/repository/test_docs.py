"""The README and the guides it links: every link resolves, every setting is documented."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from fraudstream.settings.config import Settings
from fraudstream.wiring.cli import _parser
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


# A path the guides name in `code`: it starts with one of the repository's folders.
NAMED_PATH = re.compile(
    r"`((?:fraudstream|tests|scripts|docs|infrastructure|bench|docker|schemas|email_templates)"
    r"/[\w./-]*)`"
)
NAMED_TARGET = re.compile(r"`make ([a-z][\w*-]*[a-z*])")
# Named by the guides, made on the user's machine: the secrets' files, never committed; and
# what the wheel carries under another name.
MADE_THERE = {
    "docker/.env",
    "infrastructure/secrets.auto.tfvars.json",
    "fraudstream/schemas/",
    "fraudstream/email_templates/",
}


def _targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"(?m)^([a-z][\w-]*):", makefile))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_every_path_and_make_target_a_guide_names_exists(page: Path) -> None:
    """A guide that names a file, a folder or `make TARGET` that is gone misleads whoever
    follows it; a name with a wildcard or a placeholder stands for many and is let be."""
    text = page.read_text()
    gone = [
        path
        for path in NAMED_PATH.findall(text)
        if not re.search(r"[*<>{}]|\.\.\.", path)
        and path not in MADE_THERE
        and not (REPO_ROOT / path).exists()
    ]
    assert gone == [], "named but not in the repository"
    named = {target for target in NAMED_TARGET.findall(text) if "*" not in target}
    unknown = sorted(named - _targets())
    assert unknown == [], "make targets the Makefile does not have"


COMMAND_LINE = re.compile(r"(?<![\w.-])fraudstream ([a-z][\w-]*)([^`\n|]*)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_every_flag_a_guide_gives_a_command_is_the_command_s(page: Path) -> None:
    """`fraudstream demo --again`: the guide's flag must be one of that command's options."""
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    general = {flag for action in parser._actions for flag in action.option_strings}
    wrong = []
    for command, rest in COMMAND_LINE.findall(page.read_text()):
        if command not in commands.choices:
            continue
        known = general | {
            flag for action in commands.choices[command]._actions for flag in action.option_strings
        }
        wrong += [
            f"{command} {flag}"
            for flag in re.findall(r"(?<!\w)--?[a-z][\w-]*", rest)
            if flag not in known
        ]
    assert wrong == []
