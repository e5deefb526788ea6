"""The compose stack's secrets, drawn once into docker/.env and kept there.

`docker compose -f docker/compose.yaml ...` reads docker/.env by itself (the compose
file's folder is the project's), so `up`, `down`, `logs` and `ps` work in any shell,
and a stack stopped and started again finds the database password its PostgreSQL
volume was made with. The file is git-ignored and readable by its owner only.

    python3 scripts/docker_env.py            make docker/.env, or complete it; print its path
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parents[1] / "docker" / ".env"
# Each secret compose needs, and how many random bytes it is drawn from.
SECRETS = {"CONFIRMATION_TOKEN_KEY": 32, "CONSUMER_NOTE_KEY": 32, "POSTGRES_PASSWORD": 24}


def read(path: Path) -> dict[str, str]:
    """NAME=value lines; comments, blank lines and lines without "=" (not compose's)
    skipped."""
    if not path.is_file():
        return {}
    lines = [line.strip() for line in path.read_text().splitlines()]
    pairs = [line.partition("=") for line in lines if "=" in line and not line.startswith("#")]
    return {name: value for name, _, value in pairs}


def completed(path: Path) -> dict[str, str]:
    """``path``'s values, with every secret it lacks drawn anew; nothing present changes."""
    values = read(path)
    for name, size in SECRETS.items():
        if not values.get(name):
            values[name] = secrets.token_urlsafe(size)
    return values


def write(path: Path, values: dict[str, str]) -> None:
    """Written readable by the owner only, from the first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("# The compose stack's secrets (scripts/docker_env.py); keep, do not commit.\n")
        out.writelines(f"{name}={value}\n" for name, value in values.items())
    path.chmod(0o600)


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    values = completed(ENV_FILE)
    if values != read(ENV_FILE):
        write(ENV_FILE, values)
    print(ENV_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
