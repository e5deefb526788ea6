"""docker/Dockerfile, built without an engine.

Each instruction is carried out into a scratch folder that stands for the
image's file system: ``COPY`` sends exactly what .dockerignore lets into the
build context (through the Docker SDK's own matcher), ``RUN`` runs its shell
line with the image's absolute paths moved under the scratch folder, and the
base image's Python is a fresh virtualenv of this one (the ``FROM`` tag must
name the same version). pip installs from a folder holding the very files the
lock pins (the hashes are checked as the engine checks them) instead of from
PyPI. ``useradd`` is recorded, not run; ``install -o`` keeps the running
user: users and file owners are what only a real engine shows.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from docker.utils.build import exclude_paths

# What stands in for the base image's commands that need root or a user database.
SHIMS = {
    "useradd": '#!/bin/sh\necho "useradd $*" >> "$IMAGE_ROOT/useradd.log"\n',
    "install": '#!/bin/sh\nexec /usr/bin/install $(echo "$@" | sed -E "s/-[og] [^ ]+//g")\n',
}
IMAGE_PYTHON = "usr/local"  # python:3.11-slim's interpreter lives in /usr/local


@dataclass
class Image:
    """The built image: its files under ``root``, and how a container of it starts."""

    root: Path
    environment: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    entrypoint: list[str] = field(default_factory=list)

    def path(self, inside: str) -> Path:
        """Where the image's absolute path ``inside`` is in the scratch folder."""
        return self.root / inside.lstrip("/")

    def process_environment(self) -> dict[str, str]:
        """A container's environment: the image's ENV alone, nothing of this process's."""
        shims = self.root / ".shims"
        path = f"{self.path(IMAGE_PYTHON)}/bin:{shims}:/usr/bin:/bin"
        home = self.path(f"/home/{self.user}")
        return {"LANG": "C.UTF-8", "HOME": str(home), **self.environment, "PATH": path}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def build(dockerfile: Path, context: Path, root: Path, wheels: Path) -> Image:
    """Carry out ``dockerfile`` with ``context`` as the build context, into ``root``."""
    image = Image(root)
    shims = root / ".shims"
    shims.mkdir(parents=True)
    for name, script in SHIMS.items():
        (shims / name).write_text(script)
        (shims / name).chmod(0o755)
    ignore = context / ".dockerignore"
    patterns = ignore.read_text().splitlines() if ignore.is_file() else []
    sent = exclude_paths(str(context), patterns, str(dockerfile.relative_to(context)))
    for instruction, arguments in instructions(dockerfile.read_text()):
        step = STEPS.get(instruction)
        assert step, f"{dockerfile.name}: the rehearsal does not know {instruction}"
        step(image, arguments, _Build(context, sent, wheels))
    return image


@dataclass(frozen=True)
class _Build:
    context: Path
    sent: set[str]
    wheels: Path


def _from(image: Image, arguments: str, _build: _Build) -> None:
    tag = re.fullmatch(r"python:(\d+\.\d+)[\w.-]*", arguments.split(maxsplit=1)[0])
    assert tag, f"FROM {arguments}: the rehearsal stands in for python images only"
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert tag[1] == here, f"FROM {arguments}: this Python is {here}"
    subprocess.run([sys.executable, "-m", "venv", str(image.path(IMAGE_PYTHON))], check=True)


def _env(image: Image, arguments: str, _build: _Build) -> None:
    for pair in shlex.split(arguments):
        name, _, value = pair.partition("=")
        image.environment[name] = value


def _copy(image: Image, arguments: str, build: _Build) -> None:
    *sources, destination = [word for word in shlex.split(arguments) if not word.startswith("--")]
    into_folder = destination.endswith("/") or len(sources) > 1
    for source in sources:
        _copy_one(source.rstrip("/"), image.path(destination), into_folder, build)


def _copy_one(source: str, target: Path, into_folder: bool, build: _Build) -> None:
    """One source as the engine copies it: a file to ``target`` (or into it, a folder), a
    folder's content into it; only what the build context holds, symbolic links as links."""
    origin = build.context / source
    if origin.is_file() and source != ".":
        assert source in build.sent, f"COPY {source}: .dockerignore keeps it out of the context"
        placed = target / origin.name if into_folder else target
        placed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, placed)
        return
    prefix = "" if source == "." else f"{source}/"
    for relative in sorted(build.sent):
        if not relative.startswith(prefix) or relative == source:
            continue
        found, placed = build.context / relative, target / relative.removeprefix(prefix)
        placed.parent.mkdir(parents=True, exist_ok=True)
        if found.is_symlink():
            placed.symlink_to(os.readlink(found))
        elif found.is_dir():
            placed.mkdir(exist_ok=True)
        else:
            shutil.copy2(found, placed)


def _run(image: Image, arguments: str, build: _Build) -> None:
    line = _moved(image, arguments)
    environment = {
        **image.process_environment(),
        "IMAGE_ROOT": str(image.root),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(build.wheels),
    }
    workdir = image.path(image.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["/bin/sh", "-c", line],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"RUN {arguments}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"


def _moved(image: Image, line: str) -> str:
    """``line`` with each absolute path under /tmp, /app or /home moved into the image."""
    return re.sub(r"(?<![\w./-])/(tmp|app|home)\b", lambda m: str(image.path(m[0])), line)


def _workdir(image: Image, arguments: str, _build: _Build) -> None:
    image.workdir = arguments.strip()
    image.path(image.workdir).mkdir(parents=True, exist_ok=True)


def _user(image: Image, arguments: str, _build: _Build) -> None:
    image.user = arguments.strip()
    image.path(f"/home/{image.user}").mkdir(parents=True, exist_ok=True)


def _entrypoint(image: Image, arguments: str, _build: _Build) -> None:
    image.entrypoint = list(json.loads(arguments))


STEPS = {
    "FROM": _from,
    "ENV": _env,
    "COPY": _copy,
    "RUN": _run,
    "WORKDIR": _workdir,
    "USER": _user,
    "ENTRYPOINT": _entrypoint,
}
