"""The wheel and the image, built from a checkout whose links would not survive: HEAD as
``git archive --format=zip`` packs it, extracted by Python's zipfile (which makes no links,
as a Windows checkout or many archive tools do not), then cut down to what .dockerignore
sends a Docker engine. The wheel built from that holds every module and data file git
tracks; installed into a fresh environment outside the checkout, it runs the commands that
need no server, finds its schemas, templates and license by itself, and keeps the local
stack's state in the user's folder, never in site-packages.

The archive is of HEAD: a change not yet committed is not in it."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from tests.conftest import PAYSIM_DIR, REPO_ROOT

pytestmark = pytest.mark.isolated  # no server at all

SAMPLE = PAYSIM_DIR / "paysim_head_2688.csv"


def _tracked(*folders: str) -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "--", *folders],
        check=True,
        capture_output=True,
        text=True,
    )
    return listed.stdout.split()


def _image_context(work: Path) -> Path:
    """HEAD extracted without links, then only what .dockerignore lets into a build."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("the archive test needs git and a git checkout")
    packed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=zip", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    source = work / "archive"
    zipfile.ZipFile(io.BytesIO(packed)).extractall(source)
    ignored = [
        line.strip()
        for line in (source / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = work / "context"
    for name in sorted(exclude_paths(str(source), ignored)):
        if (source / name).is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, context / name)
    return context


def _in_the_wheel(tracked: str, data_folders: dict[str, str]) -> str:
    """Where a tracked file sits in the wheel: ``schemas/x.avsc`` as
    ``fraudstream/schemas/x.avsc``, a module where it is."""
    top, _, rest = tracked.partition("/")
    return f"{data_folders[top]}/{rest}" if top in data_folders else tracked


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the image builds: from the build context of a link-less extraction."""
    work = tmp_path_factory.mktemp("wheel")
    context = _image_context(work)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(work / "dist"),
            str(context),
        ],
        check=True,
    )
    return next((work / "dist").glob("fraudstream-*.whl"))


def test_the_wheel_holds_every_module_and_data_file_git_tracks(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data_folders = {
        folder: package.replace(".", "/") for package, folder in setuptools["package-dir"].items()
    }
    tracked = _tracked("fraudstream", *data_folders)
    assert "fraudstream/consumers/loop.py" in tracked and "schemas/transaction.avsc" in tracked
    missing = [path for path in tracked if _in_the_wheel(path, data_folders) not in names]
    assert missing == []
    assert any(name.endswith("/licenses/LICENSE") for name in names)
    # One installed name: nothing lands beside other projects' packages in site-packages.
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"fraudstream"}


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel alone; its dependencies come from this test's
    environment through a path file, so nothing of the checkout is importable."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    (_site_packages(venv) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _site_packages(venv: Path) -> Path:
    return Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )


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
        "-o",
        "report.md",
    )
    assert "logreg" in (tmp_path / "report.md").read_text()


def test_the_installed_package_finds_its_schemas_and_templates(
    installed: Path, tmp_path: Path
) -> None:
    probe = (
        "from fraudstream.emails import messages as email_messages; "
        "from fraudstream.kafka import registry; "
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


def test_the_installed_local_stack_keeps_its_state_out_of_site_packages(
    installed: Path, tmp_path: Path
) -> None:
    """From a wheel there is no checkout to hold ``.devstack``: the user's state folder does."""
    site = _site_packages(installed)
    before = sorted(site.rglob("*"))
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    probe = "from fraudstream.devstack.layout import home; print(home())"
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where) == tmp_path / "home" / ".local" / "state" / "fraudstream" / "devstack"
    status = subprocess.run(
        [str(installed / "bin" / "fraudstream-devstack"), "status"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (status.returncode, status.stdout) == (1, "the stack is not running\n")
    assert sorted(path for path in site.rglob("*") if "__pycache__" not in path.parts) == [
        path for path in before if "__pycache__" not in path.parts
    ]
