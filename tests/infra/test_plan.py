"""The Terraform plans `make infra-validate` writes, read with every value resolved.

Two plans of terraform.tfvars.example: "spread" (three Kafka VMs, no load
balancer) and "single" (one Kafka VM running three brokers, the confirmation
service behind HTTPS at confirm.example.com).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fraudstream.config import load_settings
from fraudstream.topology import topology

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "build" / "infra"
INFRA = ROOT / "infrastructure"

Resources = dict[str, dict[str, Any]]


def _plan(name: str) -> dict[str, Any]:
    path = PLANS / f"plan-{name}.json"
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} is absent: `make infra-validate` writes it")
    plan: dict[str, Any] = json.loads(path.read_text())
    return plan


def _resources(plan: dict[str, Any]) -> Resources:
    """Planned values by address."""
    return {r["address"]: r["values"] for r in plan["planned_values"]["root_module"]["resources"]}


def _of_type(resources: Resources, kind: str) -> Resources:
    return {address: v for address, v in resources.items() if address.startswith(f"{kind}.")}


@pytest.fixture(scope="module")
def spread() -> Resources:
    return _resources(_plan("spread"))


@pytest.fixture(scope="module")
def single() -> Resources:
    return _resources(_plan("single"))


def test_spread_puts_one_broker_in_each_of_three_zones(spread: Resources) -> None:
    kafka = [v for a, v in _of_type(spread, "google_compute_instance").items() if ".kafka[" in a]
    assert len(kafka) == 3
    assert len({vm["zone"] for vm in kafka}) == 3
    assert sorted(len(vm["metadata"]["kafka-nodes"].split()) for vm in kafka) == [1, 1, 1]
    disks = _of_type(spread, "google_compute_disk")
    assert sorted(disk["zone"] for disk in disks.values()) == sorted(vm["zone"] for vm in kafka)


def test_single_runs_three_brokers_on_one_vm_with_ports_of_their_own(single: Resources) -> None:
    kafka = [v for a, v in _of_type(single, "google_compute_instance").items() if ".kafka[" in a]
    assert len(kafka) == 1
    nodes = [node.split(":") for node in kafka[0]["metadata"]["kafka-nodes"].split()]
    assert [node[0] for node in nodes] == ["1", "2", "3"]
    ports = [port for node in nodes for port in node[1:]]
    assert len(set(ports)) == 6


@pytest.mark.parametrize("layout", ["spread", "single"])
def test_every_broker_votes_and_every_vm_shares_one_cluster(layout: str) -> None:
    resources = _resources(_plan(layout))
    kafka = [v for a, v in _of_type(resources, "google_compute_instance").items() if ".kafka[" in a]
    assert len({vm["metadata"]["kafka-cluster-id"] for vm in kafka}) == 1
    voters = kafka[0]["metadata"]["kafka-voters"].split(",")
    assert [voter.split("@")[0] for voter in voters] == ["1", "2", "3"]
    bootstrap = kafka[0]["metadata"]["kafka-bootstrap"].split(",")
    assert len(bootstrap) == 3 and all(".internal:" in server for server in bootstrap)


@pytest.mark.parametrize("layout", ["spread", "single"])
def test_no_external_addresses_and_no_open_ingress(layout: str) -> None:
    resources = _resources(_plan(layout))
    for address, vm in _of_type(resources, "google_compute_instance").items():
        assert vm["network_interface"][0]["access_config"] == [], address
        assert vm["shielded_instance_config"][0]["enable_secure_boot"] is True
    for address, rule in _of_type(resources, "google_compute_firewall").items():
        assert "0.0.0.0/0" not in rule["source_ranges"], address
    kafka_rule = resources["google_compute_firewall.kafka_from_subnet"]
    assert kafka_rule["source_ranges"] == ["10.20.0.0/24"]


def test_pipeline_vms_get_settings_the_pipeline_accepts(spread: Resources) -> None:
    """Each VM's environment file, as its startup script writes it, loads as valid settings."""
    buckets = {v["name"] for v in _of_type(spread, "google_storage_bucket").values()}
    for role in ("producer", "fraud-consumer", "non-fraud-consumer"):
        metadata = spread[f'google_compute_instance.pipeline["{role}"]']["metadata"]
        lines = metadata["fraudstream-settings"].splitlines()
        values = dict(line.split("=", 1) for line in lines)
        secrets = dict(pair.split("=", 1) for pair in metadata["fraudstream-secrets"].split())
        placeholders = {name: "x" * 32 for name in secrets}
        settings = load_settings(
            **{name.lower(): v for name, v in {**values, **placeholders}.items()}
        )
        assert set(topology(settings).buckets) <= buckets
        assert settings.topic_replication_factor == 3
        if role == "producer":
            assert secrets == {}
        else:
            assert set(secrets) == {"SMTP_PASSWORD", "CONFIRMATION_TOKEN_KEY"}
        assert metadata["startup-script"] == (INFRA / "startup" / "pipeline.sh").read_text()


def test_every_pipeline_vm_runs_setup_before_its_services() -> None:
    """Terraform cannot reach the private brokers: the VMs create the topics and schemas."""
    script = (INFRA / "startup" / "pipeline.sh").read_text()
    assert 'setup) echo "setup --no-buckets"' in script
    assert "for service in setup $(metadata fraudstream-services)" in script
    assert 'after="$after fraudstream-setup.service"' in script


def test_secrets_are_not_in_any_metadata(spread: Resources) -> None:
    example = (ROOT / "terraform.tfvars.example").read_text()
    secret_values = [line.split('"')[1] for line in example.splitlines()
                     if line.startswith(("smtp_password", "confirmation_token_key"))]  # fmt: skip
    assert len(secret_values) == 2
    for vm in _of_type(spread, "google_compute_instance").values():
        for value in secret_values:
            assert value not in json.dumps(vm["metadata"])


def test_buckets_are_private_and_versioned(spread: Resources) -> None:
    buckets = _of_type(spread, "google_storage_bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["versioning"] == [{"enabled": True}]


def test_least_privilege_on_buckets(spread: Resources) -> None:
    grants = _of_type(spread, "google_storage_bucket_iam_member")
    roles = sorted(
        (address.split(".")[1].split("[")[0], v["role"]) for address, v in grants.items()
    )
    assert roles == [
        ("consumers_write_lake", "roles/storage.objectUser"),
        ("consumers_write_lake", "roles/storage.objectUser"),
        ("pipeline_reads_release", "roles/storage.objectViewer"),
        ("pipeline_reads_release", "roles/storage.objectViewer"),
        ("pipeline_reads_release", "roles/storage.objectViewer"),
        ("producer_reads_dataset", "roles/storage.objectViewer"),
    ]
    project_roles = {v["role"] for v in _of_type(spread, "google_project_iam_member").values()}
    assert project_roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter"}


def test_the_load_balancer_only_with_a_domain(spread: Resources, single: Resources) -> None:
    assert not _of_type(spread, "google_compute_global_forwarding_rule")
    assert not _of_type(spread, "google_compute_firewall").get(
        "google_compute_firewall.confirmation_from_load_balancer[0]"
    )
    rule = single["google_compute_global_forwarding_rule.confirmation[0]"]
    assert rule["port_range"] == "443" and rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    policy = single["google_compute_ssl_policy.confirmation[0]"]
    assert policy["min_tls_version"] == "TLS_1_2"
    certificate = single["google_compute_managed_ssl_certificate.confirmation[0]"]
    assert certificate["managed"] == [{"domains": ["confirm.example.com"]}]
    lb_rule = single["google_compute_firewall.confirmation_from_load_balancer[0]"]
    assert sorted(lb_rule["source_ranges"]) == ["130.211.0.0/22", "35.191.0.0/16"]


def test_outputs_say_where_things_are() -> None:
    outputs = _plan("single")["planned_values"]["outputs"]
    assert outputs["confirmation_url"]["value"] == "https://confirm.example.com"
    assert outputs["kafka_vms"]["value"] == ["fraudstream-kafka-1"]
    assert "start-iap-tunnel fraudstream-kafka-1 9080" in outputs["kafka_ui"]["value"]


def test_request_logs_that_carry_link_tokens_are_never_stored(single: Resources) -> None:
    exclusion = single["google_logging_project_exclusion.confirmation_tokens[0]"]
    assert 'resource.type="http_load_balancer"' in exclusion["filter"]
    assert 'httpRequest.requestUrl:"token="' in exclusion["filter"]
