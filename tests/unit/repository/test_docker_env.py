"""The compose stack's secrets: drawn once into docker/.env, kept across runs, so a stack
started again finds the password its PostgreSQL volume was made with."""

from __future__ import annotations

import importlib.util
import stat
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docker_env", REPO_ROOT / "scripts" / "docker_env.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ENV_FILE", tmp_path / ".env")
    return module


def test_the_secrets_are_drawn_once_and_kept(script: ModuleType, tmp_path: Path) -> None:
    assert script.main([]) == 0
    first = script.read(tmp_path / ".env")
    assert set(first) == {"CONFIRMATION_TOKEN_KEY", "CONSUMER_NOTE_KEY", "POSTGRES_PASSWORD"}
    assert len(first["CONFIRMATION_TOKEN_KEY"]) >= 43 and len(first["CONSUMER_NOTE_KEY"]) >= 43
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert script.main([]) == 0
    assert script.read(tmp_path / ".env") == first


def test_a_missing_secret_is_added_and_the_others_kept(script: ModuleType, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# mine\nPOSTGRES_PASSWORD=kept-as-it-is\nOTHER=1\na stray line\n"
    )
    assert script.main([]) == 0
    values = script.read(tmp_path / ".env")
    assert values["POSTGRES_PASSWORD"] == "kept-as-it-is" and values["OTHER"] == "1"
    assert values["CONFIRMATION_TOKEN_KEY"]


def test_the_file_compose_reads_is_git_ignored() -> None:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = ["git", "-C", str(REPO_ROOT), "check-ignore", "-q", "docker/.env"]
    assert subprocess.run(ignored, check=False).returncode == 0
