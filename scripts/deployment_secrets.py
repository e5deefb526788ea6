"""Every secret the cloud deployment makes for itself, one random value each (`make secrets`).

Writes infrastructure/secrets.auto.tfvars.json, which Terraform reads by itself
and git ignores: readable by its owner only, values from Python's `secrets`
(32 random bytes, URL-safe base64). A value already in the file is kept, so
running it again changes nothing; `--rotate NAME` draws a new one for one
secret (`kafka_passwords.producer`, `confirmation_token_key`, ...), and
`--list` names them. The SMTP password is the mail provider's, not drawn
here: give it as `smtp_password` in infrastructure/terraform.tfvars or as
TF_VAR_smtp_password. docs/secrets.md says who reads each and how to rotate it.

    python scripts/deployment_secrets.py [--rotate NAME ...] [--list] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "infrastructure" / "secrets.auto.tfvars.json"

# The Kafka principals: the administrator and those fraudstream.principals declares
# (infrastructure/secrets.tf names them too). That module imports nothing, so a bare
# python3 runs this script.
sys.path.insert(0, str(ROOT))
from fraudstream.principals import SERVICE_PRINCIPALS  # noqa: E402

KAFKA_PRINCIPALS = ("admin", *SERVICE_PRINCIPALS)
# The schema registry's logins: setup registers schemas, the services only read them.
REGISTRY_LOGINS = ("setup", "services")
SINGLE = (
    "confirmation_token_key",
    "consumer_note_key",
    "kafka_ui_login_password",
    "cases_database_password",
)
MAPS = {"kafka_passwords": KAFKA_PRINCIPALS, "registry_passwords": REGISTRY_LOGINS}


def secret_names() -> list[str]:
    """Every secret's name, as --rotate takes it."""
    return [*SINGLE, *(f"{group}.{key}" for group, keys in MAPS.items() for key in keys)]


def drawn(existing: dict[str, Any], rotate: set[str]) -> dict[str, Any]:
    """Every secret: the existing value unless it is missing or to be rotated."""

    def value(name: str, current: object) -> str:
        if isinstance(current, str) and current and name not in rotate:
            return current
        return secrets.token_urlsafe(32)

    values: dict[str, Any] = {name: value(name, existing.get(name)) for name in SINGLE}
    for group, keys in MAPS.items():
        current = existing.get(group) if isinstance(existing.get(group), dict) else {}
        values[group] = {key: value(f"{group}.{key}", current.get(key)) for key in keys}
    return values


def write_private(path: Path, values: dict[str, Any]) -> None:
    """``values`` as JSON into ``path``, readable by its owner only, replaced at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(values, handle, indent=2)
        handle.write("\n")
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="NAME",
        help="draw a new value for this secret (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="name every secret and exit")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the file to write")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(secret_names()))
        return 0
    unknown = set(args.rotate) - set(secret_names())
    if unknown:
        parser.error(f"no secret named {', '.join(sorted(unknown))}: --list names them")
    try:
        existing = json.loads(args.output.read_text()) if args.output.is_file() else {}
    except (ValueError, OSError) as error:
        parser.error(f"{args.output} cannot be read as JSON ({error}): mend or move it")
    if not isinstance(existing, dict):
        parser.error(f"{args.output} holds no JSON object: mend or move it")
    write_private(args.output, drawn(existing, set(args.rotate)))
    made = "rotated " + ", ".join(args.rotate) if args.rotate else "every secret present"
    print(f"{args.output}: {made}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
