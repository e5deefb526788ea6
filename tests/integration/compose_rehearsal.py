"""docker/compose.yaml, run without an engine.

Every project service (those that run the project's image) is started as a
process of the rehearsed image, with its compose command and environment,
in an order its ``depends_on`` conditions allow and no sooner: a service
waits for each dependency to have exited 0 (``service_completed_successfully``),
to pass its own healthcheck (``service_healthy``) or only to have started.
The third-party services are the native stack's servers: each compose host
name, with its port, becomes the native server's address. No restart policy
is applied: a project service that exits with an error fails the rehearsal.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.integration.image_rehearsal import Image

INTERPOLATION = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")
DURATION = re.compile(r"(\d+)(ms|s|m)")


class ComposeError(AssertionError):
    """What compose itself would refuse, or what a real deployment would see fail."""


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``."""

    def one(match: re.Match[str]) -> str:
        name, kind, text = match[1], match[2], match[3]
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise ComposeError(f"required variable {name} is missing a value: {text}")
        return text if kind == "-" else ""

    return INTERPOLATION.sub(one, value)


def seconds(duration: str | None, default: float) -> float:
    if duration is None:
        return default
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}
    return sum(int(n) * scale[unit] for n, unit in DURATION.findall(str(duration)))


@dataclass(frozen=True)
class Natives:
    """Where each third-party compose service is on the native stack."""

    addresses: Mapping[str, str]  # compose service name -> host:port[/path] of its stand-in

    def rewrite(self, value: str) -> str:
        """Each ``name:port`` (or bare ``name``) of a replaced service becomes the native
        address (or host); an address to bind on all interfaces becomes loopback."""
        names = "|".join(re.escape(name) for name in sorted(self.addresses, key=len, reverse=True))
        # A host: the whole value, or after "//", "@" or ",", before a port, a path or ",".
        pattern = rf"(?:^|(?<=//)|(?<=@)|(?<=,))({names})(:\d+)?(?=[/,]|$)"

        def native(match: re.Match[str]) -> str:
            address = self.addresses[match[1]]
            return address if match[2] else address.split(":")[0]

        return "127.0.0.1" if value == "0.0.0.0" else re.sub(pattern, native, value)


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    healthy: bool = False

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@dataclass
class Rehearsal:
    image: Image
    image_name: str
    services: dict[str, Any]
    variables: Mapping[str, str]
    natives: Natives
    logs: Path
    running: dict[str, Running] = field(default_factory=dict)

    def project_services(self) -> list[str]:
        """The services ``up`` starts from the project's image (a service in a profile is
        only ever run by hand)."""
        return [
            name
            for name, s in self.services.items()
            if s.get("image") == self.image_name and not s.get("profiles")
        ]

    def order(self) -> list[str]:
        """The project services, each after every project service it depends on."""
        ordered: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ComposeError(f"a dependency cycle: {' -> '.join((*path, name))}")
            if name in ordered or name not in self.project_services():
                return
            for dependency in self._needs(name):
                visit(dependency, (*path, name))
            ordered.append(name)

        for name in self.project_services():
            visit(name, ())
        return ordered

    def up(self) -> None:
        """Start every project service once what it depends on allows it."""
        for name in self.order():
            for dependency, condition in self._needs(name).items():
                self._await(name, dependency, condition)
            self._start(name)

    def environment(self, name: str) -> dict[str, str]:
        declared = self.services[name].get("environment") or {}
        assert isinstance(declared, dict), f"{name}: environment as a list is not rehearsed"
        values = {
            key: self.natives.rewrite(interpolate(str(value), self.variables))
            for key, value in declared.items()
        }
        return {**self.image.process_environment(), **values}

    def wait_exit(self, name: str, timeout: float) -> None:
        """``name`` has exited 0 within ``timeout`` seconds."""
        running = self.running[name]
        try:
            code = running.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            raise ComposeError(f"{name} still runs after {timeout} s:\n{running.tail()}") from error
        if code != 0:
            raise ComposeError(f"{name} exited {code}:\n{running.tail()}")

    def wait_healthy(self, name: str) -> None:
        """``name``'s own healthcheck passes, by its interval, retries and start period."""
        running, check = self.running[name], self.services[name].get("healthcheck")
        if check is None:
            raise ComposeError(f"{name} has no healthcheck, so nothing can wait for it")
        interval, start = seconds(check.get("interval"), 30), time.monotonic()
        grace, failures = seconds(check.get("start_period"), 0), 0
        while not running.healthy:
            if running.process.poll() is not None:
                raise ComposeError(f"{name} exited {running.process.returncode}:\n{running.tail()}")
            running.healthy = self._check(name, check)
            if not running.healthy and time.monotonic() - start > grace:
                failures += 1
                if failures >= int(check.get("retries", 3)):
                    raise ComposeError(f"{name} is unhealthy:\n{running.tail()}")
            if not running.healthy:
                time.sleep(interval)

    def stop(self, name: str) -> int:
        """SIGTERM, as ``docker compose stop`` sends; the exit code within the grace period."""
        running = self.running[name]
        running.process.send_signal(signal.SIGTERM)
        grace = seconds(self.services[name].get("stop_grace_period"), 10)
        try:
            return running.process.wait(grace)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
            raise ComposeError(f"{name} did not stop within {grace} s:\n{running.tail()}") from None

    def down(self) -> None:
        for running in self.running.values():
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait()

    def _needs(self, name: str) -> dict[str, str]:
        depends = self.services[name].get("depends_on") or {}
        if isinstance(depends, list):
            return dict.fromkeys(depends, "service_started")
        return {
            dependency: spec.get("condition", "service_started")
            for dependency, spec in depends.items()
        }

    def _await(self, name: str, dependency: str, condition: str) -> None:
        if dependency not in self.project_services():
            return  # a third-party service: the native stack's server, healthy already
        if condition == "service_completed_successfully":
            self.wait_exit(dependency, timeout=600)
        elif condition == "service_healthy":
            self.wait_healthy(dependency)

    def _start(self, name: str) -> None:
        command = [*self.image.entrypoint, *self.services[name].get("command", [])]
        log = self.logs / f"{name}.log"
        sink: IO[bytes]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command,
                cwd=self.image.path(self.image.workdir),
                env=self.environment(name),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.running[name] = Running(name, process, log)

    def _check(self, name: str, check: dict[str, Any]) -> bool:
        kind, *words = check["test"]
        argv = ["/bin/sh", "-c", words[0]] if kind == "CMD-SHELL" else words
        if kind not in ("CMD", "CMD-SHELL"):
            raise ComposeError(f"{name}: healthcheck {kind} is not rehearsed")
        timeout = seconds(check.get("timeout"), 30)
        try:
            done = subprocess.run(
                argv, env=self.environment(name), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0
