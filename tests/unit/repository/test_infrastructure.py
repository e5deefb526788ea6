"""The Terraform in infrastructure/, read as parsed HCL: the security properties it promises.

No cloud account exists here, so these check the configuration itself; the
plan's resolved values are checked by tests/infra/ after `make infra-validate`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudstream.devstack.layout import Topology
from fraudstream.devstack.security import sasl_properties, tls_properties
from fraudstream.devstack.services import kafka_node_properties
from fraudstream.settings.config import Settings
from tests.conftest import REPO_ROOT
from tests.terraform_config import locals_of, startup_script, terraform_config

INFRA = REPO_ROOT / "infrastructure"
IAP_RANGE = "35.235.240.0/20"
SECRET_VARIABLES = (
    "smtp_password",
    "confirmation_token_key",
    "consumer_note_key",
    "kafka_passwords",
    "kafka_ui_login_password",
    "registry_passwords",
    "cases_database_password",
)
LB_RANGES = {"130.211.0.0/22", "35.191.0.0/16"}
TLS = Path("/etc/kafka/tls")  # where a Kafka container finds its certificates


@pytest.fixture(scope="module")
def config() -> dict[str, list[dict[str, Any]]]:
    return terraform_config()


def _resources(config: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in config.get("resource", []):
        for name, body in entry.get(kind, {}).items():
            found[name] = body
    return found


def _named(config: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: body for entry in config.get(kind, []) for name, body in entry.items()}


def test_no_ingress_from_anywhere(config: dict[str, Any]) -> None:
    firewalls = _resources(config, "google_compute_firewall")
    assert firewalls
    for name, rule in firewalls.items():
        sources = rule.get("source_ranges", rule.get("source_service_accounts"))
        assert sources, name
        assert "0.0.0.0/0" not in str(sources) and "::/0" not in str(sources), name
        assert rule.get("direction", "INGRESS") == "INGRESS"


def test_each_opening_is_for_whom_it_must_be(config: dict[str, Any]) -> None:
    firewalls = _resources(config, "google_compute_firewall")
    kafka = firewalls["kafka"]
    assert "source_ranges" not in kafka
    assert kafka["source_service_accounts"] == "${each.value.sources}"
    assert kafka["target_service_accounts"] == ['${google_service_account.roles["kafka"].email}']
    openings = _named(config, "locals")["kafka_openings"]
    assert set(openings) == {"brokers", "controllers", "registry"}
    every_role = "${[for account in google_service_account.roles : account.email]}"
    assert openings["brokers"]["sources"] == every_role  # the brokers replicate over them too
    # Only the Kafka VMs reach the controllers; only the pipeline's VMs the registry's proxy.
    assert openings["controllers"]["sources"] == ['${google_service_account.roles["kafka"].email}']
    assert openings["registry"] == {
        **openings["registry"],
        "sources": "${local.pipeline_accounts}",
        "ports": ["8081"],
    }
    assert _named(config, "locals")["pipeline_accounts"] == (
        '${[for role, account in google_service_account.roles : account.email if role != "kafka"]}'
    )
    assert firewalls["ssh_from_iap"]["allow"][0]["ports"] == ["22"]
    for name in ("ssh_from_iap", "consoles_from_iap"):
        assert firewalls[name]["source_ranges"] == ["${local.iap_range}"]
    assert firewalls["confirmation_from_load_balancer"]["source_ranges"] == "${local.lb_ranges}"
    network_locals = _named(config, "locals")
    assert network_locals["iap_range"] == IAP_RANGE
    assert set(network_locals["lb_ranges"]) == LB_RANGES


def test_no_vm_has_an_external_address(config: dict[str, Any]) -> None:
    instances = _resources(config, "google_compute_instance")
    assert set(instances) == {"kafka", "pipeline"}
    for name, instance in instances.items():
        for interface in instance["network_interface"]:
            assert "access_config" not in interface, f"{name} has an external address"


def test_no_key_files_anywhere(config: dict[str, Any]) -> None:
    kinds = {kind for entry in config.get("resource", []) for kind in entry}
    assert "google_service_account_key" not in kinds
    for provider in config.get("provider", []):
        for settings in provider.values():
            assert "credentials" not in settings
    sources = " ".join(path.read_text() for path in INFRA.rglob("*") if path.is_file())
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in sources
    assert not re.search(r"\.json[\"']?\s*$", sources, re.MULTILINE)


def test_every_vm_runs_as_its_own_service_account(config: dict[str, Any]) -> None:
    instances = _resources(config, "google_compute_instance")
    accounts = _resources(config, "google_service_account")["roles"]
    roles = _named(config, "locals")["roles"]
    assert instances["kafka"]["service_account"][0]["email"] == (
        '${google_service_account.roles["kafka"].email}'
    )
    assert instances["pipeline"]["service_account"][0]["email"] == (
        "${google_service_account.roles[each.value.role].email}"
    )
    pipeline_locals = _named(config, "locals")
    vms = pipeline_locals["producer_vms"] + pipeline_locals["pipeline_vms"]
    pipeline_roles = set(re.findall(r'\brole += "([a-z-]+)"', vms))
    pipeline_roles |= {
        kind["role"].strip('"') for kind in pipeline_locals["consumer_kinds"].values()
    }
    assert pipeline_roles == {"producer", "fraud-consumer", "non-fraud-consumer", "confirmation"}
    assert pipeline_roles | {"kafka"} == set(roles)
    assert accounts["for_each"] == "${local.roles}"
    ids = [role["account"] for role in roles.values()]
    assert len(set(ids)) == len(ids)
    assert all(len(f"abcdefghijklmnopqrst-{account}") <= 30 for account in ids)


def test_no_role_is_granted_on_the_whole_project_beyond_telemetry(config: dict[str, Any]) -> None:
    """And the case consumer's right to connect to Cloud SQL, which has no narrower scope."""
    project_roles = _named(config, "locals")["project_roles"]
    assert set(project_roles) == {"roles/logging.logWriter", "roles/monitoring.metricWriter"}
    for kind in ("google_project_iam_binding", "google_project_iam_policy"):
        assert not _resources(config, kind)
    members = _resources(config, "google_project_iam_member")
    assert set(members) == {"telemetry", "cases_database_client"}
    client = members["cases_database_client"]
    assert client["role"] == "roles/cloudsql.client"
    assert client["member"] == '${google_service_account.roles["fraud-consumer"].member}'


def test_vms_are_shielded_and_use_os_login(config: dict[str, Any]) -> None:
    """Every VM, and every template a consumer group makes its VMs of."""
    booted = {
        **_resources(config, "google_compute_instance"),
        **_resources(config, "google_compute_instance_template"),
    }
    assert {"kafka", "pipeline", "consumer"} <= set(booted)
    for name, instance in booted.items():
        shielded = instance["shielded_instance_config"][0]
        assert shielded == {
            "enable_secure_boot": True,
            "enable_vtpm": True,
            "enable_integrity_monitoring": True,
        }, name
        metadata = _metadata_text(config, instance["metadata"])
        assert 'enable-oslogin = "TRUE"' in metadata, name
        assert 'block-project-ssh-keys = "TRUE"' in metadata, name


def _metadata_text(config: dict[str, Any], metadata: dict[str, Any] | str) -> str:
    """A VM's metadata as HCL text: its own block, or the pipeline VMs' shared local merged
    with what the resource adds."""
    if isinstance(metadata, str) and "local.pipeline_metadata[" in metadata:
        return f"{metadata} {locals_of(config)['pipeline_metadata']}"
    assert isinstance(metadata, dict)
    return " ".join(f'{key} = "{value}"' for key, value in metadata.items())


def test_buckets_are_private_versioned_and_expire_old_versions(config: dict[str, Any]) -> None:
    buckets = _resources(config, "google_storage_bucket")["buckets"]
    assert buckets["uniform_bucket_level_access"] is True
    assert buckets["public_access_prevention"] == "enforced"
    assert buckets["versioning"][0]["enabled"] is True
    rules = [rule["action"][0]["type"] for rule in buckets["lifecycle_rule"]]
    assert "Delete" in rules
    assert set(_named(config, "locals")["buckets"]) == {"dataset", "lake", "artifacts"}


def test_secrets_never_travel_in_metadata(config: dict[str, Any]) -> None:
    variables = _named(config, "variable")
    for name in SECRET_VARIABLES:
        assert variables[name]["sensitive"] is True
    booted = {
        **_resources(config, "google_compute_instance"),
        **_resources(config, "google_compute_instance_template"),
    }
    metadata = " ".join(_metadata_text(config, vm["metadata"]) for vm in booted.values())
    assert not [name for name in SECRET_VARIABLES if f"var.{name}" in metadata]
    settings = _named(config, "locals")["base_settings"]
    secrets = {"SMTP_PASSWORD", "CONFIRMATION_TOKEN_KEY", "CONSUMER_NOTE_KEY", "CASES_DATABASE_URL"}
    assert not secrets & set(settings)


def test_pipeline_settings_are_names_the_pipeline_reads(config: dict[str, Any]) -> None:
    known = {name.upper() for name in Settings.model_fields}
    settings = _named(config, "locals")["base_settings"]  # and DETECTOR_MODEL with a model
    assert set(settings) <= known, set(settings) - known
    assert settings["LAKE_BUCKET"] == "${local.buckets.lake}"
    assert settings["DATASET_BUCKET"] == "${local.buckets.dataset}"


def test_every_variable_is_typed_and_described(config: dict[str, Any]) -> None:
    variables = _named(config, "variable")
    assert len(variables) >= 15
    for name, variable in variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert variable.get("type"), f"variable {name} has no type"
    for name in ("prefix", "kafka_layout", "detector", "project_id", "region"):
        assert variables[name].get("validation"), f"variable {name} is not validated"


def test_every_output_is_described(config: dict[str, Any]) -> None:
    outputs = _named(config, "output")
    expected = {"kafka_vms", "pipeline_vms", "internal_addresses", "kafka_ui", "confirmation_url"}
    assert expected <= set(outputs)
    assert "buckets" in outputs
    for name, output in outputs.items():
        assert output.get("description"), f"output {name} has no description"


def test_versions_are_pinned(config: dict[str, Any]) -> None:
    terraform = config["terraform"][0]
    assert terraform["required_version"].startswith(">=")
    google = terraform["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    assert "<" in google["version"], "the provider's major version is not bounded"


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = [
        match
        for path in INFRA.glob("*.tf")
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text())
    ]
    assert skips
    for skip in skips:
        assert skip.group(2) and len(skip.group(2).strip()) > 20, f"{skip.group(1)}: no reason"


@pytest.mark.parametrize("role", ["kafka", "pipeline"])
def test_startup_scripts_parse_and_stop_on_errors(role: str) -> None:
    script = startup_script(role)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert script.startswith("#!/bin/bash\n") and "\nset -euo pipefail\n" in script
    # A failing command substitution in a for list does not stop the script: read first.
    assert not re.search(r"\bfor \w+ in [^;]*\$\(", script)
    # Whatever reaches the network is retried.
    commands = script.replace("\\\n", " ").splitlines()
    for line in commands:
        if re.search(r"^\s*[^#]*\b(gcloud|curl|apt-get|docker pull)\s", line):
            assert "retry " in line, line


def test_the_cluster_id_is_a_valid_kraft_id(config: dict[str, Any]) -> None:
    """22 URL-safe base64 characters decoding to 16 bytes, with zero padding bits."""
    expression = _named(config, "locals")["kafka_cluster_id"]
    assert expression == '${substr(md5("${var.project_id}/${var.prefix}"), 0, 21)}A'
    cluster_id = hashlib.md5(b"my-project/fraudstream").hexdigest()[:21] + "A"
    raw = base64.urlsafe_b64decode(cluster_id + "==")
    assert len(raw) == 16
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == cluster_id


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_the_kafka_vms_run_the_sasl_configuration_the_local_stack_runs(tmp_path: Path) -> None:
    """kafka.sh writes server.properties in bash; devstack (`up --sasl`, and the ACL tests)
    in Python. The login and authorisation settings must be the same."""
    script = tmp_path / "kafka-startup.sh"
    script.write_text(startup_script("kafka"))
    written = subprocess.run(
        ["bash", "-c", f'source "{script}" && node_properties 1 9092 9192 vm.internal V pw'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cloud = _properties(written)
    topology = Topology(brokers=3, sasl=True, tls=True)
    local = _properties(
        kafka_node_properties(topology, 1, Path("/d"), admin_password="pw", certificates=TLS)
    )
    for key in {**sasl_properties(topology, 1, "pw"), **tls_properties(topology, 1, TLS)}:
        if key not in ("listeners", "advertised.listeners"):
            assert cloud[key] == local[key], key
    assert cloud["listeners"] == "SASL_SSL://:9092,CONTROLLER://:9192"
    assert cloud["advertised.listeners"] == "SASL_SSL://vm.internal:9092"
    shared = set(local) - {
        "log.dirs",
        "controller.quorum.voters",
        "group.initial.rebalance.delay.ms",
    }
    assert shared <= set(cloud)


def _pipeline_function(services: str, call: str) -> str:
    """What a function of startup/pipeline.sh prints for a VM running ``services``."""
    script = (REPO_ROOT / "infrastructure" / "startup" / "pipeline.sh").read_text()
    functions = script[: script.index("\nwrite_environment\n")]  # definitions only, no boot
    result = subprocess.run(
        ["bash", "-c", f'{functions}\nservices="{services}"\n{call}'],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_the_ops_agent_scrapes_the_metrics_port_of_each_service_of_the_vm() -> None:
    section = yaml.safe_load(_pipeline_function("setup produce consume-cases", "ops_agent_metrics"))
    receiver = section["metrics"]["receivers"]["fraudstream"]
    assert receiver["type"] == "prometheus"
    (job,) = receiver["config"]["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9101", "127.0.0.1:9104"]}]
    assert section["metrics"]["service"]["pipelines"]["fraudstream"]["receivers"] == ["fraudstream"]
    ports = [
        _pipeline_function("", f"metrics_port_of {service}").strip()
        for service in (
            "produce",
            "consume-non-fraud",
            "consume-fraud",
            "consume-cases",
            "confirmation-service",
            "setup",
        )
    ]
    assert ports == ["9101", "9102", "9103", "9104", "9105", ""]
    assert _pipeline_function("setup", "ops_agent_metrics") == ""
