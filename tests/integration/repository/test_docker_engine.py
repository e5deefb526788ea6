"""docker/compose.yaml's project services run by a real Docker engine: the image built
from docker/Dockerfile, every pipeline service a container under ``docker compose``.

compose.host-network.yaml swaps each third-party service for the native stack's server
and puts the containers on the host's network; the image, commands, healthchecks, stop
grace periods and order are compose.yaml's. What only an engine shows is checked here:
the image's user, each service's healthcheck, PID 1 stopping on SIGTERM within its
grace period, and nothing left after ``down``. What stays unproven is what the override
leaves out: the third-party images, their healthchecks and DNS between containers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from fraudstream.devstack.services import empty_mail_catcher
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings, load_settings
from tests.integration import docker_engine
from tests.integration.conftest import Stack, forget_deployment
from tests.integration.pipeline import REPO_ROOT, lake_records, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

COMPOSE = REPO_ROOT / "docker" / "compose.yaml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
HOST_NETWORK = Path(__file__).with_name("compose.host-network.yaml")
PROJECT = "fraudstream-engine-test"
IMAGE = "fraudstream:local"
LONG_RUNNING = ("non-fraud-consumer", "fraud-consumer", "cases-consumer", "confirmation-service")
COMPOSE_COMMAND = ("docker", "compose", "-p", PROJECT, "-f", str(COMPOSE), "-f", str(HOST_NETWORK))
SHORTEST_GRACE_SECONDS = 30  # the confirmation service's stop_grace_period


@dataclass(frozen=True)
class Compose:
    """``docker compose`` on compose.yaml with the host-network override."""

    variables: dict[str, str]

    def __call__(self, *args: str, timeout: float = 900) -> str:
        """What the command wrote to standard output; it must succeed."""
        return self.completed(*args, timeout=timeout).stdout

    def completed(
        self, *args: str, timeout: float = 900, checked: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*COMPOSE_COMMAND, *args],
            cwd=REPO_ROOT,
            env=self.variables,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        failed = checked and done.returncode != 0
        assert not failed, f"docker compose {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done

    def settings(self) -> Settings:
        """The settings every project service reads, as compose gives them."""
        given = json.loads(self("config", "--format", "json"))["services"]["setup"]["environment"]
        return load_settings(
            **{name: given[name.upper()] for name in Settings.model_fields if name.upper() in given}
        )

    @contextlib.contextmanager
    def up(self) -> Iterator[None]:
        """``up --detach`` for the length of the block, which watches the services: compose
        itself waits as long as a dependency keeps restarting."""
        starting = subprocess.Popen(
            [*COMPOSE_COMMAND, "up", "--detach"],
            cwd=REPO_ROOT,
            env=self.variables,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield
            _, said = starting.communicate(timeout=60)
            assert starting.returncode == 0, f"docker compose up:\n{said[-3000:]}"
        finally:
            starting.kill()
            starting.wait()

    def states(self) -> dict[str, dict[str, Any]]:
        """Each of the project's containers' state (``docker inspect``), by service."""
        listed = self.completed("ps", "--all", "--quiet", checked=False)
        if "No such container" in listed.stderr:  # recreated while listed: ask again later
            return {}
        assert listed.returncode == 0, listed.stderr
        ids = listed.stdout.split()
        if not ids:
            return {}
        # Those gone since they were listed are left out (inspect says so on stderr).
        inspected = json.loads(docker_engine.docker("inspect", *ids).stdout or "[]")
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}

    def logs(self, service: str) -> str:
        return self("logs", "--no-color", service)[-3000:]


@pytest.fixture(scope="module")
def compose(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    """The engine, the base image and the project's image built; a deployment with nothing
    of its own in Kafka, the registry or the lake."""
    with docker_engine.running(tmp_path_factory.mktemp("engine") / "dockerd.log"):
        docker_engine.base_image(DOCKERFILE)
        database = make_url(os.environ["CASES_DATABASE_URL"])
        compose = Compose(
            {
                **os.environ,
                "CONFIRMATION_TOKEN_KEY": secrets.token_urlsafe(32),
                "CONSUMER_NOTE_KEY": secrets.token_urlsafe(32),
                "POSTGRES_PASSWORD": str(database.password),
            }
        )
        started = time.monotonic()
        compose("build", "setup")
        print(f"the image built by the engine in {time.monotonic() - started:.0f} s")
        settings = compose.settings()
        forget_deployment(settings)
        try:
            yield compose
        finally:
            compose("down", "--remove-orphans")
            forget_deployment(settings)


def test_the_image_runs_as_its_own_user_and_writes_where_it_must(compose: Compose) -> None:
    probe = (
        "import os, pathlib; print(os.getuid());"
        "[pathlib.Path(f, 'probe').write_text('x') for f in ('/app', '/app/build')]"
    )
    ran = docker_engine.docker("run", "--rm", "--entrypoint", "python", IMAGE, "-c", probe)
    assert ran.returncode == 0, ran.stderr
    assert int(ran.stdout) != 0
    user = docker_engine.docker("image", "inspect", "--format", "{{.Config.User}}", IMAGE)
    assert user.stdout.strip() == "fraudstream"


def test_every_service_runs_as_a_container_and_each_row_arrives_once(
    compose: Compose, stack: Stack
) -> None:
    empty_mail_catcher(stack.mail_api_url)
    with compose.up():
        wait_until(lambda: _exited(compose, "producer"), "the producer done", timeout=600)
        for name in LONG_RUNNING:
            wait_until(functools.partial(_healthy, compose, name), f"{name} healthy", timeout=180)

    settings = compose.settings()
    rows = _rows(json.loads(compose("config", "--format", "json"))["services"]["producer"])
    wait_until(lambda: len(_lake_ids(settings)) >= rows, "every row in the lake", timeout=600)
    wait_until(lambda: _emails(stack) >= rows, "an email for every row", timeout=300)
    wait_until(
        lambda: len(lake_records(settings, "email_confirmation")) >= rows,
        "every email confirmed in the lake",
        timeout=300,
    )

    started = time.monotonic()
    compose("stop")
    stopping = time.monotonic() - started
    states = compose.states()
    for name in LONG_RUNNING:
        state = states[name]["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0), compose.logs(name)
    assert stopping < SHORTEST_GRACE_SECONDS, f"compose stop took {stopping:.0f} s"

    ids = _lake_ids(settings)
    assert len(ids) == len(set(ids)) == rows
    assert _emails(stack) == rows
    assert len(lake_records(settings, "email_confirmation")) == rows

    # Started again, the producer finds its file done (its checkpoint is in Kafka) and
    # the consumers resume where they committed: nothing is produced or sent twice.
    compose("start")
    for name in LONG_RUNNING:
        wait_until(functools.partial(_healthy, compose, name), f"{name} healthy", timeout=180)
    wait_until(lambda: _exited(compose, "producer"), "the producer done again", timeout=300)
    said = compose.logs("producer")
    assert re.search(r"this run +0 good", said.splitlines()[-2]), said
    assert _emails(stack) == rows

    compose("down")
    labelled = f"label=com.docker.compose.project={PROJECT}"
    for listing in (["ps", "--all"], ["network", "ls"], ["volume", "ls"]):
        left = docker_engine.docker(*listing, "--quiet", "--filter", labelled).stdout.split()
        assert left == [], f"docker compose down left, by docker {' '.join(listing)}: {left}"


def test_the_command_line_runs_by_hand_beside_the_services(
    compose: Compose, stack: Stack, tmp_path: Path
) -> None:
    """``run --rm cli``: the case table, the run report on standard output, and a CSV from
    a mounted file and from the dataset bucket, as docs/docker.md shows them."""
    compose("run", "--rm", "cli", "setup")
    table = compose("run", "--rm", "cli", "cases")
    assert table.startswith("cases  postgresql"), table
    assert compose.variables["POSTGRES_PASSWORD"] not in table
    page = compose("run", "--rm", "-T", "cli", "report", "-o", "-")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "fraudstream run report" in page

    csv = tmp_path / "paysim.csv"
    write_csv(csv, rows=300, seed=7)
    csv.chmod(0o644)  # the image's user is not this one
    tmp_path.chmod(0o755)
    mounted = f"{csv}:/data/paysim.csv:ro"
    produced = compose.completed("run", "--rm", "-v", mounted, "cli", "produce", "/data/paysim.csv")
    assert "/data/paysim.csv: complete" in produced.stderr
    assert "300 good" in produced.stderr

    settings = compose.settings()
    upload = urllib.request.Request(
        f"{stack.storage_emulator_host}/upload/storage/v1/b/{settings.dataset_bucket}/o"
        "?uploadType=media&name=mine.csv",  # docs/docker.md's curl
        data=csv.read_bytes(),
        method="POST",
    )
    urllib.request.urlopen(upload, timeout=60).close()
    source = f"gs://{settings.dataset_bucket}/mine.csv"
    produced = compose.completed("run", "--rm", "cli", "produce", source)
    assert f"{source}: complete" in produced.stderr


def _exited(compose: Compose, name: str) -> bool:
    return bool(_state(compose, name).get("Status") == "exited")


def _healthy(compose: Compose, name: str) -> bool:
    return bool(_state(compose, name).get("Health", {}).get("Status") == "healthy")


def _state(compose: Compose, name: str) -> dict[str, Any]:
    """``name``'s state, once no container of the project has failed. Everything a service
    waits for is up, so a restart (``restart: on-failure``) is a failure here too."""
    containers = compose.states()
    for service, container in containers.items():
        failed = container["RestartCount"] > 0 or container["State"]["ExitCode"] != 0
        assert not failed, f"{service} failed:\n{compose.logs(service)}"
    return dict(containers.get(name, {}).get("State", {}))


def _rows(producer: dict[str, Any]) -> int:
    command = producer["command"]
    return int(command[command.index("--rows") + 1])


def _lake_ids(settings: Settings) -> list[str]:
    return [
        record["transaction_id"]
        for folder in ("transaction", "fraud_confirmation")
        for record in lake_records(settings, folder)
    ]


def _emails(stack: Stack) -> int:
    with urllib.request.urlopen(f"{stack.mail_api_url}/email", timeout=60) as response:
        return len(json.load(response))
