"""The exact wheels the cloud VMs and the image install: `lock` pins them, `download`
fetches them, `check` proves every pin installs on both architectures.

The VMs run Debian 12: CPython 3.11 on x86_64 with glibc 2.36; the image is built
on x86_64 and on aarch64 (an Arm Mac's Docker runs linux/arm64). The versions are
resolved once, for x86_64; the lock then carries, for each pinned version, the hash
of its wheel for each architecture, so `pip install --require-hashes` installs the
same versions on both. Every command resolves for the target platform, whatever
machine it runs on, so nothing is compiled.

    python scripts/vm_wheels.py lock       rewrite requirements.lock from pyproject.toml,
                                           keeping the versions it pins
    python scripts/vm_wheels.py download DIR
                                           the lock's x86_64 wheels into DIR, hashes checked
    python scripts/vm_wheels.py check      every pin has a wheel of a locked hash, on each
                                           architecture
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PYTHON_VERSION = "3.11"
VM_ARCHITECTURE = "x86_64"
ARCHITECTURES = (VM_ARCHITECTURE, "aarch64")
HEADER = """\
# The packages the cloud VMs and the image install, exactly: CPython 3.11 on Debian 12,
# one hash a wheel for x86_64 and for aarch64 (a pure-Python wheel serves both).
# Written by `make lock` (scripts/vm_wheels.py) from pyproject.toml; do not edit.
# `make dist` puts the x86_64 wheels in the release archive, checked against the hashes.
"""


def platforms(architecture: str) -> list[str]:
    """The manylinux tags glibc 2.36 accepts: pip does not widen a tag to the older ones
    it implies, so they are listed (aarch64 wheels start at manylinux2014)."""
    tags = [f"manylinux_2_{minor}_{architecture}" for minor in range(36, 16, -1)]
    older = ("2014", "2010", "1") if architecture == "x86_64" else ("2014",)
    return tags + [f"manylinux{year}_{architecture}" for year in older]


def _target_flags(architecture: str = VM_ARCHITECTURE) -> list[str]:
    flags = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in platforms(architecture):
        flags += ["--platform", platform]
    return flags


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True)


def runtime_requirements() -> list[str]:
    """The services' dependencies, and the run report's plots (``fraudstream report``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["report"]]


def _resolved(architecture: str, *requirements: str, no_deps: bool = False) -> dict[str, Any]:
    """pip's installation report for ``requirements`` on ``architecture``, by package name."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        _pip(
            "install",
            "--dry-run",
            "--ignore-installed",
            *(["--no-deps"] if no_deps else []),
            "--target",
            f"{scratch}/target",
            "--report",
            str(report),
            *_target_flags(architecture),
            *requirements,
        )
        resolved = json.loads(report.read_text())["install"]
    return {package["metadata"]["name"]: package for package in resolved}


def _digest(package: dict[str, Any]) -> str:
    return str(package["download_info"]["archive_info"]["hashes"]["sha256"])


def lock() -> None:
    """Versions resolved for the VMs, keeping every version already pinned (delete the lock
    to move them all to the newest); then the same versions' wheels for every architecture."""
    with tempfile.TemporaryDirectory() as scratch:
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text("\n".join(_pinned()) + "\n")
        resolved = _resolved(VM_ARCHITECTURE, *runtime_requirements(), "-c", str(constraints))
    pins = [f"{name}=={package['metadata']['version']}" for name, package in resolved.items()]
    hashes = {name: {_digest(package)} for name, package in resolved.items()}
    for architecture in ARCHITECTURES[1:]:
        for name, package in _resolved(architecture, *pins, no_deps=True).items():
            hashes[name].add(_digest(package))
    lines = []
    for name in sorted(resolved, key=str.lower):
        version = resolved[name]["metadata"]["version"]
        lines.append(
            f"{name}=={version}"
            + "".join(f" \\\n    --hash=sha256:{digest}" for digest in sorted(hashes[name]))
        )
    LOCK.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{LOCK.relative_to(ROOT)}: {len(lines)} packages, {', '.join(ARCHITECTURES)}")


def _pinned() -> list[str]:
    """The lock's ``name==version`` lines (none before the first lock)."""
    if not LOCK.is_file():
        return []
    return [line.split()[0] for line in LOCK.read_text().splitlines() if "==" in line]


def check() -> None:
    """Every locked package resolves, with a locked hash, for each architecture."""
    for architecture in ARCHITECTURES:
        _resolved(architecture, "--no-deps", "--require-hashes", "--requirement", str(LOCK))
        print(f"{LOCK.relative_to(ROOT)}: every package has a locked wheel for {architecture}")


def download(directory: Path) -> None:
    _pip(
        "download",
        "--no-deps",
        "--require-hashes",
        "--dest",
        str(directory),
        *_target_flags(),
        "--requirement",
        str(LOCK),
    )


def main(argv: list[str]) -> int:
    commands: dict[tuple[str, int], Callable[[], None]] = {
        ("lock", 1): lock,
        ("download", 2): lambda: download(Path(argv[1])),
        ("check", 1): check,
    }
    command = commands.get((argv[0] if argv else "", len(argv)))
    if command is None:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        command()
    except subprocess.CalledProcessError as error:
        print(f"vm_wheels: pip failed (exit {error.returncode}), as it says above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
