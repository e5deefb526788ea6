from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream import resources
from tests.conftest import REPO_ROOT


def test_a_checkout_reads_the_folders_at_its_top() -> None:
    assert resources.data_folder("schemas") == REPO_ROOT / "schemas"
    assert (resources.data_folder("email_templates") / "base.html.j2").is_file()


def test_an_installed_package_reads_the_folders_it_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "fraudstream"
    (package / "schemas").mkdir(parents=True)
    (tmp_path / "site-packages" / "schemas").mkdir()  # another distribution's, never ours
    monkeypatch.setattr(resources, "PACKAGE", package)
    assert resources.data_folder("schemas") == package / "schemas"
