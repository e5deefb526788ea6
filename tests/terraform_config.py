"""infrastructure/*.tf read as data: every top-level block, by kind, with values as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

INFRA = Path(__file__).resolve().parents[1] / "infrastructure"


def startup_script(role: str) -> str:
    """What compute.tf puts in a VM's startup-script metadata."""
    startup = INFRA / "startup"
    return (startup / "common.sh").read_text() + "\n" + (startup / f"{role}.sh").read_text()


def terraform_config() -> dict[str, list[dict[str, Any]]]:
    """Every top-level block of every .tf file, by block kind."""
    blocks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            for kind, entries in _plain(hcl2.load(handle)).items():
                blocks.setdefault(kind, []).extend(entries)
    return blocks


def locals_of(config: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {name: value for block in config.get("locals", []) for name, value in block.items()}


def _plain(value: Any) -> Any:
    """python-hcl2's output with the quotes around names and string literals taken off."""
    if isinstance(value, dict):
        return {_unquote(key): _plain(item) for key, item in value.items() if key != "__is_block__"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return _unquote(value) if isinstance(value, str) else value


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
