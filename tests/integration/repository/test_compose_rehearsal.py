"""docker/compose.yaml rehearsed on the native stack: the image the Dockerfile builds, and
every project service started with its compose command and environment, in the order its
dependencies allow. A missing file in the image, a wrong command or variable, or a service
that starts before what it needs is ready fails here (see compose_rehearsal.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from fraudstream.settings.config import Settings, load_settings
from tests.integration.compose_rehearsal import Natives, Rehearsal
from tests.integration.conftest import Stack, forget_deployment
from tests.integration.image_rehearsal import Image, build
from tests.integration.pipeline import REPO_ROOT, lake_records, wait_until

COMPOSE = REPO_ROOT / "docker" / "compose.yaml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
IMAGE_NAME = "fraudstream:local"
LONG_RUNNING = ("non-fraud-consumer", "fraud-consumer", "cases-consumer", "confirmation-service")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The Dockerfile carried out; pip's files are the lock's wheels and the build backend,
    fetched once from PyPI as the engine would fetch them."""
    work = tmp_path_factory.mktemp("image")
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "scripts/vm_wheels.py", "download", str(wheels)], cwd=REPO_ROOT, check=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            str(wheels),
            "setuptools>=77",
        ],
        check=True,
    )
    return build(DOCKERFILE, REPO_ROOT, work / "root", wheels)


@pytest.fixture
def rehearsal(image: Image, stack: Stack, tmp_path: Path) -> Iterator[Rehearsal]:
    database = make_url(os.environ["CASES_DATABASE_URL"])
    bootstrap = stack.bootstrap_servers.split(",")
    natives = Natives(
        {
            **{f"kafka-{node}": address for node, address in enumerate(bootstrap, start=1)},
            "schema-registry": stack.schema_registry_url.removeprefix("http://"),
            "gcs-emulator": stack.storage_emulator_host.removeprefix("http://"),
            "mail-catcher": f"{stack.smtp_host}:{stack.smtp_port}",
            "postgresql": f"{database.host}:{database.port}",
        }
    )
    variables = {
        "CONFIRMATION_TOKEN_KEY": secrets.token_urlsafe(32),
        "CONSUMER_NOTE_KEY": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": str(database.password),
    }
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    rehearsal = Rehearsal(image, IMAGE_NAME, services, variables, natives, tmp_path)
    settings = _settings(rehearsal)
    forget_deployment(settings)  # a compose deployment starts with nothing of its own
    yield rehearsal
    rehearsal.down()
    forget_deployment(settings)


def _settings(rehearsal: Rehearsal) -> Settings:
    """The settings every project service reads, as compose gives them."""
    given = rehearsal.environment("setup")
    return load_settings(
        **{name: given[name.upper()] for name in Settings.model_fields if name.upper() in given}
    )


def _rows(service: dict[str, Any]) -> int:
    command = service["command"]
    return int(command[command.index("--rows") + 1])


def test_the_image_holds_every_file_of_the_package(image: Image) -> None:
    """What no compose service happens to load (the run report, say) is there too."""
    found = subprocess.run(
        ["python", "-c", "import fraudstream; print(fraudstream.__path__[0])"],
        cwd=image.path(image.workdir),
        env=image.process_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    installed = Path(found.stdout.strip())
    assert installed.is_relative_to(image.root), installed

    def files(package: Path) -> set[str]:
        return {
            str(path.relative_to(package))
            for path in package.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }

    carried = {  # the data folders at the top, which the wheel carries inside the package
        f"{folder}/{inner}"
        for folder in ("schemas", "email_templates")
        for inner in files(REPO_ROOT / folder)
    }
    assert (carried | files(REPO_ROOT / "fraudstream")) - files(installed) == set()


def test_every_service_starts_in_order_and_the_pipeline_runs(rehearsal: Rehearsal) -> None:
    assert rehearsal.order()[0] == "setup"
    assert set(rehearsal.project_services()) == {"setup", "producer", *LONG_RUNNING}
    rehearsal.up()
    rehearsal.wait_exit("producer", timeout=600)
    for name in LONG_RUNNING:
        rehearsal.wait_healthy(name)

    settings = _settings(rehearsal)
    rows = _rows(rehearsal.services["producer"])

    def ids() -> list[str]:
        return [
            record["transaction_id"]
            for folder in ("transaction", "fraud_confirmation")
            for record in lake_records(settings, folder)
        ]

    wait_until(lambda: len(ids()) >= rows, "every row in the lake", timeout=600)
    wait_until(
        lambda: len(lake_records(settings, "email_confirmation")) >= rows,
        "an email for every row",
        timeout=300,
    )
    assert len(ids()) == len(set(ids())) == rows
    for name in LONG_RUNNING:
        assert rehearsal.stop(name) == 0, rehearsal.running[name].tail()
    assert len(lake_records(settings, "email_confirmation")) == rows
