"""The cloud deployment's secrets: drawn at random one each by `make secrets`, kept when there,
rotated one at a time; the example file carries none, and Terraform refuses a placeholder."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2
import pytest

from fraudstream.settings.config import Settings
from fraudstream.settings.keys import check_random_key
from fraudstream.topology import kafka_principals
from tests.conftest import REPO_ROOT
from tests.terraform_config import locals_of, terraform_config

EXAMPLE = REPO_ROOT / "terraform.tfvars.example"
# The values the example once held: a user who copied them deployed known secrets.
OLD_EXAMPLE_SECRETS = [
    "change-me-to-32-or-more-random-characters",
    "change-me-too-32-or-more-random-characters",
    "change-me",
]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "deployment_secrets", REPO_ROOT / "scripts" / "deployment_secrets.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _script()


def _run(script: ModuleType, path: Path, *args: str) -> dict[str, Any]:
    assert script.main(["--output", str(path), *args]) == 0
    values: dict[str, Any] = json.loads(path.read_text())
    return values


def _flat(values: dict[str, Any]) -> dict[str, str]:
    flat = {}
    for name, value in values.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{key}": item for key, item in value.items()})
        else:
            flat[name] = value
    return flat


def test_every_secret_is_its_own_random_value_in_a_private_file(
    script: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "secrets.auto.tfvars.json"
    values = _flat(_run(script, path))
    assert sorted(values) == sorted(script.secret_names())
    assert len(set(values.values())) == len(values)  # one leak unlocks nothing else
    for value in values.values():
        check_random_key(value)
    assert path.stat().st_mode & 0o777 == 0o600


def test_running_again_keeps_every_value_and_a_rotation_changes_one(
    script: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "secrets.auto.tfvars.json"
    first = _flat(_run(script, path))
    assert _flat(_run(script, path)) == first
    rotated = _flat(_run(script, path, "--rotate", "kafka_passwords.producer"))
    changed = {name for name in first if first[name] != rotated[name]}
    assert changed == {"kafka_passwords.producer"}
    with pytest.raises(SystemExit):
        script.main(["--output", str(path), "--rotate", "kafka_passwords.nobody"])


def test_the_script_knows_each_kafka_principal_terraform_and_setup_know(script: ModuleType) -> None:
    declared = set(kafka_principals(Settings()))
    terraform = locals_of(terraform_config())
    assert set(script.KAFKA_PRINCIPALS) == {"admin", "kafka-ui", *declared}
    assert '"admin"' in terraform["kafka_secrets"]
    assert set(terraform["kafka_principals"]) == {"kafka-ui", *declared}
    assert set(script.REGISTRY_LOGINS) == set(terraform["registry_secrets"])


def test_the_example_carries_no_secret() -> None:
    example = hcl2.loads(EXAMPLE.read_text())
    secret_variables = {
        name
        for block in terraform_config()["variable"]
        for name, body in block.items()
        if body.get("sensitive")
    }
    assert secret_variables >= {"confirmation_token_key", "kafka_passwords", "smtp_password"}
    assert not secret_variables & set(example)
    assert not [value for value in OLD_EXAMPLE_SECRETS if value in EXAMPLE.read_text()]


def _conditions(name: str) -> str:
    variable = next(block[name] for block in terraform_config()["variable"] if name in block)
    return " ".join(str(rule["condition"]) for rule in variable["validation"])


@pytest.mark.parametrize(
    "name",
    [
        "confirmation_token_key",
        "consumer_note_key",
        "kafka_passwords",
        "kafka_ui_login_password",
        "registry_passwords",
        "cases_database_password",
    ],
)
def test_terraform_accepts_what_the_script_draws_and_refuses_placeholders(
    script: ModuleType, name: str, tmp_path: Path
) -> None:
    """The variable's own checks, run here with Python's regular expressions (the same
    syntax as Terraform's for these)."""
    conditions = _conditions(name)
    shape, placeholder = re.findall(r'regex\("([^"]+)"', conditions)
    shape, placeholder = shape.replace("\\\\", "\\"), placeholder.replace("(?i)", "")

    def accepted(value: str) -> bool:
        return bool(re.search(shape, value)) and not re.search(placeholder, value, re.I)

    drawn = _flat(_run(script, tmp_path / "s.json"))
    assert all(accepted(value) for key, value in drawn.items() if key.split(".")[0] == name)
    for refused in [*OLD_EXAMPLE_SECRETS, "x" * 20, "Change-Me-" + "A" * 40]:
        assert not accepted(refused), refused


def test_a_secrets_file_that_is_not_json_is_one_line_and_kept(
    script: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secrets.auto.tfvars.json"
    path.write_text("confirmation_token_key = 'hand-written HCL'\n")
    with pytest.raises(SystemExit) as refused:
        script.main(["--output", str(path)])
    assert refused.value.code == 2
    assert "cannot be read as JSON" in capsys.readouterr().err
    assert path.read_text().startswith("confirmation_token_key")  # nothing overwritten
