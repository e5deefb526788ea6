"""The exact wheels the cloud VMs install: `lock` pins them, `download` fetches them.

The VMs run Debian 12: CPython 3.11 on x86_64 with glibc 2.36. Both commands
resolve for that platform, whatever machine they run on, so the release
archive `make dist` builds installs there with no index and no compiler.

    python scripts/vm_wheels.py lock       rewrite requirements.lock from pyproject.toml
    python scripts/vm_wheels.py download DIR
                                           the lock's wheels into DIR, hashes checked
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PYTHON_VERSION = "3.11"
# pip does not widen a manylinux tag to the older ones it implies: list them.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
HEADER = """\
# The packages the cloud VMs install, exactly: CPython 3.11 on Debian 12, x86_64.
# Written by `make lock` (scripts/vm_wheels.py) from pyproject.toml; do not edit.
# `make dist` puts these wheels in the release archive, checked against the hashes.
"""


def _target_flags() -> list[str]:
    flags = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in PLATFORMS:
        flags += ["--platform", platform]
    return flags


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True)


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def lock() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        _pip(
            "install",
            "--dry-run",
            "--ignore-installed",
            "--target",
            f"{scratch}/target",
            "--report",
            str(report),
            *_target_flags(),
            *runtime_requirements(),
        )
        resolved = json.loads(report.read_text())["install"]
    lines = []
    for package in sorted(resolved, key=lambda item: item["metadata"]["name"].lower()):
        name, version = package["metadata"]["name"], package["metadata"]["version"]
        digest = package["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    LOCK.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{LOCK.relative_to(ROOT)}: {len(lines)} packages")


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
