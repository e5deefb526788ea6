"""The project's logs at the level asked for; libraries' at WARNING unless DEBUG is asked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from fraudstream.runtime.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root, project = logging.getLogger(), logging.getLogger("fraudstream")
    kept = (root.level, list(root.handlers), project.level)
    yield
    root.setLevel(kept[0])
    root.handlers[:] = kept[1]
    project.setLevel(kept[2])


@pytest.mark.parametrize("library", ["alembic.runtime.migration", "urllib3", "waitress"])
def test_libraries_say_nothing_at_info(library: str) -> None:
    configure_logging("INFO", "json")
    assert logging.getLogger("fraudstream.producer").isEnabledFor(logging.INFO)
    assert not logging.getLogger(library).isEnabledFor(logging.INFO)
    assert logging.getLogger(library).isEnabledFor(logging.WARNING)


def test_debug_opens_every_logger() -> None:
    configure_logging("DEBUG", "json")
    assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("fraudstream.kafka").isEnabledFor(logging.DEBUG)


def test_a_quieter_level_holds_for_the_project_too() -> None:
    configure_logging("ERROR", "json")
    assert not logging.getLogger("fraudstream.consumer").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("urllib3").isEnabledFor(logging.WARNING)
