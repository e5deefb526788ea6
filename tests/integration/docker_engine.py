"""A Docker engine for the engine test, or a clear reason to skip.

The engine that answers is used as it is. Where none does and the user is root, the
daemon (Debian's ``dockerd``, which ``make test`` installs) is started here, and stopped
when the test is done. ``docker compose`` is the compose command (``make test`` builds
the plugin where the client has none). The Dockerfile's base image is the engine's own
copy, else pulled, else, where no registry answers, a stand-in built from Debian's
packages (scripts/stand-in-base-image.sh), which the engine keeps for the next run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

STAND_IN = REPO_ROOT / "scripts" / "stand-in-base-image.sh"
PULL_SECONDS = 60
DAEMON_START_SECONDS = 60


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def answers() -> bool:
    return docker("info", timeout=30).returncode == 0


@contextlib.contextmanager
def running(log: Path) -> Iterator[None]:
    """An engine that answers for the length of the block: this one's, or one started here."""
    if shutil.which("docker") is None:
        pytest.skip("no docker command: install Debian's docker.io (make test does, as root)")
    daemon = None if answers() else _start_daemon(log)
    try:
        if docker("compose", "version").returncode != 0:
            pytest.skip("docker compose is missing: scripts/install-docker.sh builds it with Go")
        yield
    finally:
        if daemon is not None:
            _stop(daemon)


def _start_daemon(log: Path) -> subprocess.Popen[bytes]:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("no Docker engine answers, and only root with dockerd installed starts one")
    with log.open("ab") as output:
        daemon = subprocess.Popen(
            ["dockerd"], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + DAEMON_START_SECONDS
    while not answers():
        if daemon.poll() is not None or time.monotonic() > deadline:
            _stop(daemon)
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            pytest.fail(f"dockerd did not start within {DAEMON_START_SECONDS} s:\n{tail}")
        time.sleep(0.5)
    return daemon


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an init system would: the daemon stops its containers, then exits."""
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def base_image(dockerfile: Path) -> str:
    """The Dockerfile's FROM image, made present: the engine's copy, a pull, or a stand-in."""
    image = next(
        line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")
    )
    if docker("image", "inspect", image).returncode == 0:
        return image
    with contextlib.suppress(subprocess.TimeoutExpired):
        if docker("pull", "--quiet", image, timeout=PULL_SECONDS).returncode == 0:
            return image
    if shutil.which("debootstrap") is None:
        pytest.skip(f"{image} cannot be pulled, and debootstrap is missing to stand in for it")
    print(f"{image} cannot be pulled: building a stand-in from Debian's packages")
    subprocess.run(["bash", str(STAND_IN), image], check=True, timeout=1200)
    return image
