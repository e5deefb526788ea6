"""A wheel built from the tree, installed into a fresh environment outside the checkout, runs
the commands that need no server and finds its schemas, templates and license by itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PAYSIM_DIR, REPO_ROOT

pytestmark = pytest.mark.isolated  # no server at all

SAMPLE = PAYSIM_DIR / "paysim_head_2688.csv"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel alone; its dependencies come from this test's
    environment through a path file, so nothing of the checkout is importable."""
    work = tmp_path_factory.mktemp("wheel")
    _forget_earlier_builds()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(work / "dist"),
            str(REPO_ROOT),
        ],
        check=True,
    )
    _forget_earlier_builds()
    wheel = next((work / "dist").glob("fraudstream-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "fraudstream/schemas/transaction.avsc" in names
    assert "fraudstream/email_templates/fraud_confirmation_request.html.j2" in names
    assert any(name.endswith("/licenses/LICENSE") for name in names)
    # One installed name: nothing lands beside other projects' packages in site-packages.
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"fraudstream"}
    for packaged in (
        "fraudstream/producer/service.py",
        "fraudstream/consumers/confirmation/pages/ask.html.j2",
        "fraudstream/reporting/templates/report.html.j2",
        "fraudstream/devstack/resources/",
    ):
        assert any(name.startswith(f"fraudstream/{packaged}") for name in names), packaged
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _forget_earlier_builds() -> None:
    """setuptools builds in the tree's build/lib and keeps it: a file deleted since would
    still go into the next wheel."""
    for stale in [REPO_ROOT / "build" / "lib", *(REPO_ROOT / "build").glob("bdist.*")]:
        shutil.rmtree(stale, ignore_errors=True)


def _run(venv: Path, cwd: Path, *argv: str) -> str:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FRAUDSTREAM_", "PYTHONPATH"))
    }
    done = subprocess.run(
        [str(venv / "bin" / "fraudstream"), *argv],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_the_installed_commands_run_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    assert "generate" in _run(installed, tmp_path, "--help")
    _run(installed, tmp_path, "generate", "--rows", "3000", "-o", "rows.csv")
    _run(
        installed,
        tmp_path,
        "train",
        "--detector",
        "logreg",
        "--rows",
        "20000",
        "-o",
        "models/logreg.onnx",
    )
    evaluated = tmp_path / "rows.csv" if not SAMPLE.is_file() else SAMPLE
    _run(
        installed,
        tmp_path,
        "evaluate",
        str(evaluated),
        "--detector",
        "logreg",
        "--models",
        "models",
        "--report",
        "report.md",
    )
    assert "logreg" in (tmp_path / "report.md").read_text()


def test_the_installed_package_finds_its_schemas_and_templates(
    installed: Path, tmp_path: Path
) -> None:
    probe = (
        "from fraudstream import email_messages, registry; "
        "print(registry.SCHEMA_DIR); print(email_messages.TEMPLATE_DIR); "
        "print(len(registry.load_schema('fraud_confirmation'))); "
        "print(email_messages._environment.get_template('transaction_notification.txt.j2').name)"
    )
    done = subprocess.run(
        [str(installed / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    schemas, templates, size, template = done.stdout.split()
    for folder in (schemas, templates):
        assert Path(folder).is_relative_to(installed), folder
    assert int(size) > 100 and template == "transaction_notification.txt.j2"
