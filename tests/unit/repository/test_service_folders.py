"""The top-level service folders, ``producer/`` and ``consumers/``: each settings template
names only settings the services read, at the values they take when unset, so a copy of
it changes nothing until its reader changes a line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from fraudstream.settings.config import Settings
from tests.conftest import REPO_ROOT

TEMPLATES = [
    REPO_ROOT / "producer" / "producer.env.example",
    REPO_ROOT / "consumers" / "consumers.env.example",
]


def _assignments(template: Path) -> dict[str, str]:
    lines = [
        line for line in template.read_text().splitlines() if line and not line.startswith("#")
    ]
    return dict(line.split("=", 1) for line in lines)


def _plain(value: object) -> object:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.parent.name)
def test_the_settings_template_holds_the_defaults_of_settings_that_exist(
    template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    written = _assignments(template)
    assert len(written) >= 10
    unknown = [name for name in written if name.lower() not in Settings.model_fields]
    assert unknown == []
    from_template = Settings(_env_file=template)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    differing = [
        name
        for name in written
        if _plain(getattr(from_template, name.lower())) != _plain(getattr(defaults, name.lower()))
    ]
    assert differing == []


@pytest.mark.parametrize("folder", ["producer", "consumers"])
def test_each_service_folder_says_how_to_run_it_and_where_its_code_is(folder: str) -> None:
    readme = (REPO_ROOT / folder / "README.md").read_text()
    assert f"fraudstream/{folder}/" in readme and "fraudstream " in readme
