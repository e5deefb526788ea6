"""The Terraform plans `make infra-validate` writes, read with every value resolved.

Three plans of terraform.tfvars.example: "spread" (three Kafka VMs, no load
balancer), "single" (one Kafka VM running three brokers, the confirmation
service behind HTTPS at confirm.example.com, buckets that `destroy` may empty),
both with three zones given, and "fresh" (nothing given beyond the example: the
zones come from the Compute API, as on a fresh project's first apply).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import pytest

from fraudstream.runtime import metrics
from fraudstream.settings.config import load_settings
from fraudstream.topology import kafka_principals, storage_prefixes, topology
from tests.terraform_config import startup_script

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "build" / "infra"
INFRA = ROOT / "infrastructure"

Resources = dict[str, dict[str, Any]]
PIPELINE_ROLES = ("producer", "fraud-consumer", "non-fraud-consumer", "confirmation")


def _plan(name: str) -> dict[str, Any]:
    path = PLANS / f"plan-{name}.json"
    plan: dict[str, Any] = json.loads(_written(path).read_text())
    return plan


def _written(path: Path) -> Path:
    """``path``, which ``make infra-validate`` writes; the test skips, saying so, without it."""
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} is absent: `make infra-validate` writes it")
    return path


def _resources(plan: dict[str, Any]) -> Resources:
    """Planned values by address."""
    return {r["address"]: r["values"] for r in plan["planned_values"]["root_module"]["resources"]}


def _of_type(resources: Resources, kind: str) -> Resources:
    return {address: v for address, v in resources.items() if address.startswith(f"{kind}.")}


def _pipeline_vm(resources: Resources, role: str) -> dict[str, Any]:
    """What a pipeline VM of ``role`` is made from: a producer's or the confirmation VM's
    own values, a consumer kind's instance template (its group's VMs are alike)."""
    if (vm := resources.get(f'google_compute_instance.pipeline["{role}"]')) is not None:
        return vm
    (template,) = [
        t
        for t in _of_type(resources, "google_compute_instance_template").values()
        if t["labels"]["role"] == role
    ]
    return template


def _booted(resources: Resources) -> Resources:
    """Every VM and every consumer kind's template, by address: all that boots a VM."""
    return {
        **_of_type(resources, "google_compute_instance"),
        **_of_type(resources, "google_compute_instance_template"),
    }


def _role(address: str, vm: dict[str, Any]) -> str:
    if ".kafka[" in address:
        return "kafka"
    return str(vm["labels"]["role"]) if "template" in address else address.split('"')[1]


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
    for address, vm in _booted(resources).items():
        assert vm["network_interface"][0]["access_config"] == [], address
        assert vm["shielded_instance_config"][0]["enable_secure_boot"] is True
        # OS Login only: no project-wide SSH key opens any VM.
        assert vm["metadata"]["enable-oslogin"] == "TRUE", address
        assert vm["metadata"]["block-project-ssh-keys"] == "TRUE", address
    for address, rule in _of_type(resources, "google_compute_firewall").items():
        assert "0.0.0.0/0" not in (rule.get("source_ranges") or []), address
    rules = {
        name: resources[f'google_compute_firewall.kafka["{name}"]']
        for name in ("brokers", "controllers", "registry")
    }
    assert {name: rule["allow"][0]["ports"] for name, rule in rules.items()} == {
        "brokers": ["9092", "9093", "9094"],
        "controllers": ["9192", "9193", "9194"],
        "registry": ["8081"],
    }
    accounts = {
        v["account_id"].removeprefix("fraudstream-"): f"{v['account_id']}@my-gcp-project"
        f".iam.gserviceaccount.com"
        for v in _of_type(resources, "google_service_account").values()
    }
    sources = {
        name: {
            email.split("@")[0].removeprefix("fraudstream-")
            for email in rule["source_service_accounts"]
        }
        for name, rule in rules.items()
    }
    assert all(not rule.get("source_ranges") for rule in rules.values())
    assert sources["brokers"] == set(accounts)
    assert sources["controllers"] == {"kafka"}  # the Kafka VMs only
    assert sources["registry"] == set(accounts) - {"kafka"}


def test_pipeline_vms_get_settings_the_pipeline_accepts(spread: Resources) -> None:
    """Each VM's environment file, as its startup script writes it, loads as valid settings."""
    buckets = {v["name"] for v in _of_type(spread, "google_storage_bucket").values()}
    for role in PIPELINE_ROLES:
        metadata = _pipeline_vm(spread, role)["metadata"]
        lines = metadata["fraudstream-settings"].splitlines()
        values = dict(line.split("=", 1) for line in lines)
        # The boot writes the authority's certificate there (startup/pipeline.sh).
        assert values.pop("TLS_CA_FILE") == "/etc/fraudstream-tls/tls-ca.pem"
        secrets = dict(pair.split("=", 1) for pair in metadata["fraudstream-secrets"].split())
        placeholders = {name: token_urlsafe(32) for name in secrets}
        if "CASES_DATABASE_URL" in secrets:
            placeholders["CASES_DATABASE_URL"] = "postgresql+psycopg://cases:x@10.0.0.3/fraudstream"
        settings = load_settings(
            **{name.lower(): v for name, v in {**values, **placeholders}.items()}
        )
        assert set(topology(settings).buckets) <= buckets
        assert settings.topic_replication_factor == 3
        if role == "producer":
            assert secrets == {}
        elif role == "fraud-consumer":
            assert set(secrets) == {
                "SMTP_PASSWORD",
                "CONFIRMATION_TOKEN_KEY",
                "CONSUMER_NOTE_KEY",
                "CASES_DATABASE_URL",
            }
            assert secrets["CASES_DATABASE_URL"] == "fraudstream-cases-database-url"
        elif role == "non-fraud-consumer":
            assert set(secrets) == {"SMTP_PASSWORD", "CONSUMER_NOTE_KEY"}  # it signs no link
        else:  # the VM that faces the internet: its key and nothing to send mail with
            assert set(secrets) == {"CONFIRMATION_TOKEN_KEY"}
        assert metadata["startup-script"] == startup_script("pipeline")
        assert metadata["ops-agent"] == "true"


def test_each_pipeline_vm_runs_its_own_services(spread: Resources) -> None:
    """tests/integration/infrastructure/test_vm_boot.py boots a VM with all of these and
    runs them."""
    services = {
        role: _pipeline_vm(spread, role)["metadata"]["fraudstream-services"]
        for role in PIPELINE_ROLES
    }
    assert services == {
        "producer": "setup produce watch-lag",
        "fraud-consumer": "consume-fraud consume-cases",
        "non-fraud-consumer": "consume-non-fraud",
        "confirmation": "confirmation-service",
    }


def test_producer_vms_stream_one_shard_each(spread: Resources, single: Resources) -> None:
    """producer_count = 3 (the single plan): three shards, one setup, one account."""
    vms = {
        address.split('"')[1]: vm
        for address, vm in _of_type(single, "google_compute_instance").items()
        if ".pipeline[" in address and "producer" in address
    }
    assert {name: vm["metadata"]["fraudstream-shard"] for name, vm in vms.items()} == {
        "producer": "0/3",
        "producer-1": "1/3",
        "producer-2": "2/3",
    }
    assert [
        name for name, vm in vms.items() if "setup" in vm["metadata"]["fraudstream-services"]
    ] == ["producer"]
    assert "admin" not in vms["producer-2"]["metadata"]["fraudstream-kafka-logins"]
    assert {vm["labels"]["role"] for vm in vms.values()} == {"producer"}
    whole = spread['google_compute_instance.pipeline["producer"]']["metadata"]
    assert whole["fraudstream-shard"] == "0/1"  # the whole file, as before shards
    consumer = _pipeline_vm(spread, "fraud-consumer")["metadata"]
    assert consumer["fraudstream-shard"] == ""


def test_each_consumer_kind_is_a_group_of_vms_made_alike_of_its_size(spread: Resources) -> None:
    """The default (the spread plan): one managed group a kind, of one template, keeping
    consumer_count VMs (1 each), with no autoscaler."""
    groups = _of_type(spread, "google_compute_instance_group_manager")
    assert {g["name"]: g["target_size"] for g in groups.values()} == {
        "fraudstream-fraud-consumer": 1,
        "fraudstream-non-fraud-consumer": 1,
    }
    assert {g["base_instance_name"] for g in groups.values()} == set(
        g["name"] for g in groups.values()
    )
    assert _of_type(spread, "google_compute_autoscaler") == {}
    # A new template replaces the VMs one at a time, the new one up first.
    for group in groups.values():
        policy = group["update_policy"][0]
        assert (policy["type"], policy["minimal_action"]) == ("PROACTIVE", "REPLACE")
        assert (policy["max_surge_fixed"], policy["max_unavailable_fixed"]) == (1, 0)


def test_autoscaled_kinds_grow_with_their_groups_lag_up_to_the_partitions(
    single: Resources,
) -> None:
    """consumer_count = {fraud = 2, non_fraud = 3} and consumer_autoscaling for both (the
    single plan): each autoscaler starts from consumer_count, reads the lag watcher's series
    of exactly the consumer groups its VMs run, and stops at max_vms."""
    settings = load_settings()
    runs = {
        "fraud": {settings.fraud_consumer_group, settings.cases_consumer_group},
        "non_fraud": {settings.non_fraud_consumer_group},
    }
    groups = _of_type(single, "google_compute_instance_group_manager")
    assert all(g.get("target_size") is None for g in groups.values())  # the autoscaler's
    scaled = {
        address.split('"')[1]: a["autoscaling_policy"][0]
        for address, a in _of_type(single, "google_compute_autoscaler").items()
    }
    assert {kind: (p["min_replicas"], p["max_replicas"]) for kind, p in scaled.items()} == {
        "fraud": (2, 4),
        "non_fraud": (3, 6),
    }
    for kind, policy in scaled.items():
        read = set()
        for metric in policy["metric"]:
            assert metric["name"] == "prometheus.googleapis.com/fraudstream_group_lag/gauge"
            assert metric["target"] is None  # a per-group metric: work to share, not a level
            found = re.fullmatch(
                r'resource.type = "prometheus_target" AND metric.labels.group = "([^"]+)"',
                metric["filter"],
            )
            assert found is not None, metric["filter"]
            read.add(found[1])
        assert read == runs[kind]
        assert policy["scale_in_control"][0]["max_scaled_in_replicas"][0]["fixed"] == 1
    assert "fraudstream_group_lag" in metrics.METRIC_NAMES


def test_an_autoscaler_allowed_past_the_partitions_is_refused() -> None:
    said = _written(PLANS / "plan-autoscaled-past-partitions.txt").read_text()
    assert said.splitlines()[-1] != "exit status 0"
    assert "max_vms must lie between the kind's consumer_count and topic_partitions (6)" in (
        " ".join(said.split())
    )


def test_more_consumers_of_a_kind_than_partitions_is_refused() -> None:
    """A member beyond the topic's partitions would get none: the plan says so, in one
    message naming both variables."""
    said = _written(PLANS / "plan-too-many-consumers.txt").read_text()
    assert said.splitlines()[-1] != "exit status 0"
    assert "consumer_count asks for more VMs of one kind than topic_partitions (4)" in said


def _secrets_read(metadata: dict[str, str]) -> set[str]:
    """The Secret Manager secrets a VM's boot reads, from its metadata."""
    read = {pair.split("=")[-1] for pair in metadata.get("fraudstream-secrets", "").split()}
    for attribute in (
        "fraudstream-kafka-logins",
        "fraudstream-kafka-principals",
        "fraudstream-registry-logins",
    ):
        read |= {entry.split("=")[-1] for entry in metadata.get(attribute, "").split()}
    read |= {v for k, v in metadata.items() if k.startswith("kafka-") and k.endswith("-secret")}
    read |= set(metadata.get("registry-logins", "").split())
    return read


def test_each_vm_may_read_exactly_the_secrets_its_boot_reads(spread: Resources) -> None:
    granted: dict[str, set[str]] = {}
    for address in _of_type(spread, "google_secret_manager_secret_iam_member"):
        role, secret = address.split("[", 1)[1].strip('"]').split()
        granted.setdefault(role, set()).add(f"fraudstream-{secret}")
    booted = _booted(spread)
    assert {_role(address, vm) for address, vm in booted.items()} == set(granted)
    for address, vm in booted.items():
        assert _secrets_read(vm["metadata"]) == granted[_role(address, vm)], address


def test_every_service_logs_in_to_kafka_as_its_own_principal(spread: Resources) -> None:
    logins, registry = {}, {}
    for role in PIPELINE_ROLES:
        metadata = _pipeline_vm(spread, role)["metadata"]
        for entry in metadata["fraudstream-kafka-logins"].split():
            service, principal, secret = entry.split("=")
            assert secret == f"fraudstream-kafka-{principal}"
            logins[service] = principal
        for entry in metadata["fraudstream-registry-logins"].split():
            service, secret = entry.split("=")
            registry[service] = secret.removeprefix("fraudstream-registry-")
    assert logins == {
        "setup": "admin",
        "produce": "producer",
        "consume-fraud": "fraud-consumer",
        "consume-cases": "cases-consumer",
        "consume-non-fraud": "non-fraud-consumer",
        "confirmation-service": "confirmation-service",
        "watch-lag": "lag-watcher",
    }
    producer = spread['google_compute_instance.pipeline["producer"]']["metadata"]
    made = {entry.split("=")[0] for entry in producer["fraudstream-kafka-principals"].split()}
    assert made == set(kafka_principals(load_settings()))
    # Setup alone may change the registry; every other service reads it, but the lag
    # watcher, which reads offsets and no record.
    assert registry == {
        service: "setup-login" if service == "setup" else "services-login"
        for service in logins
        if service != "watch-lag"
    }
    # The VM that faces the internet holds no administrator password, nor the means to
    # send mail as the bank or change the registry.
    facing = json.dumps(spread['google_compute_instance.pipeline["confirmation"]']["metadata"])
    for held_elsewhere in ("kafka-admin", "smtp-password", "registry-setup-login"):
        assert held_elsewhere not in facing


def test_secrets_are_not_in_any_metadata(spread: Resources) -> None:
    drawn = json.loads((PLANS / "plan-secrets.tfvars.json").read_text())
    secret_values = [
        value
        for item in drawn.values()
        for value in (item.values() if isinstance(item, dict) else [item])
    ]
    assert len(secret_values) == 4 + 9 + 2  # single secrets, Kafka, registry
    for vm in _booted(spread).values():
        for value in [*secret_values, "plan-smtp-login"]:
            assert value not in json.dumps(vm["metadata"])


def test_the_example_alone_or_with_its_old_placeholder_key_is_refused() -> None:
    """A user who copies terraform.tfvars.example and applies gets no deployment: its
    secrets come from `make secrets`, and a placeholder in their place is refused."""
    alone = _written(PLANS / "plan-example-only.txt").read_text()
    assert alone.splitlines()[-1] != "exit status 0"
    for name in (
        "confirmation_token_key",
        "consumer_note_key",
        "kafka_passwords",
        "registry_passwords",
        "kafka_ui_login_password",
        "cases_database_password",
        "smtp_password",
    ):
        assert f'variable "{name}"' in alone, name
    placeholder = _written(PLANS / "plan-placeholder.txt").read_text()
    assert placeholder.splitlines()[-1] != "exit status 0"
    assert "Invalid value for variable" in placeholder and "confirmation_token_key" in placeholder


def test_buckets_are_private_and_versioned(spread: Resources) -> None:
    buckets = _of_type(spread, "google_storage_bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["versioning"] == [{"enabled": True}]


def test_least_privilege_on_buckets(spread: Resources) -> None:
    """Who may do what is held against what each service does in test_permissions.py;
    here, that the plan grants what the configuration says, on the buckets it names."""
    grants = {
        address.split("[", 1)[1].strip('"]'): (v["bucket"].rsplit("-", 1)[1], v["role"])
        for address, v in _of_type(spread, "google_storage_bucket_iam_member").items()
    }
    lake_writer = "projects/my-gcp-project/roles/fraudstream_lake_writer"
    assert grants == {
        "producer dataset": ("dataset", "roles/storage.objectViewer"),
        "producer artifacts": ("artifacts", "roles/storage.objectViewer"),
        "fraud-consumer lake": ("lake", lake_writer),
        "fraud-consumer artifacts": ("artifacts", "roles/storage.objectViewer"),
        "non-fraud-consumer lake": ("lake", lake_writer),
        "non-fraud-consumer artifacts": ("artifacts", "roles/storage.objectViewer"),
        "confirmation lake": ("lake", lake_writer),
        "confirmation artifacts": ("artifacts", "roles/storage.objectViewer"),
    }
    # Each lake grant is held to its service's folders: the internet-facing service's to
    # the answers, each consumer's to its own topic's batches and email log.
    conditions = {
        address.split("[", 1)[1].strip('"]'): v["condition"][0]["expression"]
        for address, v in _of_type(spread, "google_storage_bucket_iam_member").items()
        if v["condition"]
    }
    account = {"confirmation-service": "confirmation"}  # the others are named as their VMs
    objects = "projects/_/buckets/my-gcp-project-fraudstream-lake/objects/"
    listing = 'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
    assert conditions == {
        f"{account.get(service, service)} lake": " || ".join(
            f'resource.name.startsWith("{objects}{folder}") || {listing}.startsWith("{folder}")'
            for folder in folders
        )
        for service, folders in storage_prefixes(load_settings()).items()
    }
    role = spread["google_project_iam_custom_role.lake_writer"]
    assert role["role_id"] == "fraudstream_lake_writer"
    project_roles = {v["role"] for v in _of_type(spread, "google_project_iam_member").values()}
    assert project_roles == {
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/cloudsql.client",
    }


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


def test_cloud_armor_limits_and_bans_each_client_address(single: Resources) -> None:
    armor = single["google_compute_security_policy.confirmation[0]"]
    rules = {rule["action"]: rule for rule in armor["rule"]}
    limits = rules["rate_based_ban"]["rate_limit_options"][0]
    assert limits["enforce_on_key"] == "IP" and limits["exceed_action"] == "deny(429)"
    assert limits["rate_limit_threshold"] == [{"count": 120, "interval_sec": 60}]
    assert limits["ban_threshold"] == [{"count": 1000, "interval_sec": 300}]
    assert limits["ban_duration_sec"] == 600
    assert "cve-canary" in rules["deny(403)"]["match"][0]["expr"][0]["expression"]
    configured = {
        r["address"]: r for r in _plan("single")["configuration"]["root_module"]["resources"]
    }
    backend = configured["google_compute_backend_service.confirmation"]["expressions"]
    assert "google_compute_security_policy.confirmation" in backend["security_policy"]["references"]


def test_outputs_say_where_things_are() -> None:
    outputs = _plan("single")["planned_values"]["outputs"]
    assert outputs["confirmation_url"]["value"] == "https://confirm.example.com"
    assert outputs["kafka_vms"]["value"] == ["fraudstream-kafka-1"]
    assert "start-iap-tunnel fraudstream-kafka-1 9080" in outputs["kafka_ui"]["value"]


def test_request_logs_that_carry_link_tokens_are_never_stored(single: Resources) -> None:
    exclusion = single["google_logging_project_exclusion.confirmation_tokens[0]"]
    assert 'resource.type="http_load_balancer"' in exclusion["filter"]
    assert 'httpRequest.requestUrl:"token="' in exclusion["filter"]


# ---------------------------------------------------------------------------
# A fresh project's first apply: every API on before anything that needs it


# The API each kind of resource is created through (or, for a data source, read).
API_OF_TYPE = {
    "google_project_iam_custom_role": "iam.googleapis.com",
    "google_compute_": "compute.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_storage_": "storage.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_service_networking_": "servicenetworking.googleapis.com",
    "google_sql_": "sqladmin.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_privateca_": "privateca.googleapis.com",
}


def _configuration() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = _plan("fresh")["configuration"]["root_module"]["resources"]
    return resources


def _base(reference: str) -> str | None:
    """`google_x.name["k"].id` -> `google_x.name`; None for var., local., each. and so on."""
    parts = reference.split(".")
    if parts[0] == "data":
        return ".".join(parts[:3]).split("[")[0]
    if parts[0].startswith("google_") and len(parts) > 1:
        return f"{parts[0]}.{parts[1].split('[')[0]}"
    return None


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found |= set(value) if key == "references" else _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _dependencies() -> dict[str, set[str]]:
    """What each resource waits for: depends_on, and the resources its arguments reference.

    References through locals are not followed (the plan does not record what a
    local refers to), so a resource that needs the APIs only through a local must
    say so in depends_on.
    """
    graph: dict[str, set[str]] = {}
    for resource in _configuration():
        named = _references(resource.get("expressions", {})) | set(resource.get("depends_on", []))
        graph[resource["address"]] = {base for ref in named if (base := _base(ref))}
    return graph


def _waits_for(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dependency in graph.get(todo.pop(), set()) - seen:
            seen.add(dependency)
            todo.append(dependency)
    return seen


def test_every_resource_waits_for_the_apis() -> None:
    graph = _dependencies()
    apis = "google_project_service.apis"
    late = [
        address for address in graph if address != apis and apis not in _waits_for(graph, address)
    ]
    assert late == []


def test_every_api_a_resource_is_made_through_is_turned_on() -> None:
    services = _of_type(_resources(_plan("fresh")), "google_project_service").values()
    enabled = {service["service"] for service in services}
    needed = set()
    for resource in _configuration():
        kind = resource["type"]
        if kind == "google_project_service":
            continue
        prefixes = [prefix for prefix in API_OF_TYPE if kind.startswith(prefix)]
        assert prefixes, f"no API known for {kind}: add it to API_OF_TYPE"
        needed.add(API_OF_TYPE[prefixes[0]])
    assert needed <= enabled, needed - enabled
    # The VMs use these themselves: tunnels, the Ops Agent's logs and metrics.
    assert {"iap.googleapis.com", "logging.googleapis.com", "monitoring.googleapis.com"} <= enabled


def test_a_fresh_project_reads_its_zones_once_the_compute_api_is_on() -> None:
    plan = _plan("fresh")
    changes = {change["address"]: change for change in plan["resource_changes"]}
    zones = changes["data.google_compute_zones.region[0]"]
    assert zones["change"]["actions"] == ["read"]
    assert zones["action_reason"] == "read_because_dependency_pending"
    kafka = changes["google_compute_instance.kafka[0]"]["change"]
    assert kafka["after_unknown"]["zone"] is True
    data = [r for r in _configuration() if r["address"] == "data.google_compute_zones.region"]
    assert data[0]["depends_on"] == ["google_project_service.apis"]


def test_given_zones_are_used_and_the_data_source_is_not_read(spread: Resources) -> None:
    assert not any(address.startswith("data.") for address in spread)
    kafka = [v for a, v in _of_type(spread, "google_compute_instance").items() if ".kafka[" in a]
    assert sorted(vm["zone"] for vm in kafka) == [
        "europe-west1-b",
        "europe-west1-c",
        "europe-west1-d",
    ]


# ---------------------------------------------------------------------------
# Teardown


def test_buckets_are_force_destroyed_only_when_asked(spread: Resources, single: Resources) -> None:
    assert {v["force_destroy"] for v in _of_type(spread, "google_storage_bucket").values()} == {
        False
    }
    assert {v["force_destroy"] for v in _of_type(single, "google_storage_bucket").values()} == {
        True
    }


def test_the_teardown_target_sets_force_destroy_in_the_state_before_destroying() -> None:
    """The provider reads force_destroy from the state, so it must be applied before destroy."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ninfra-destroy:", 1)[1].split("\n\n", 1)[0]
    apply, destroy = [line.strip() for line in recipe.splitlines()[1:3]]
    assert " apply " in apply and "-var force_destroy=true" in apply
    assert "-target=google_storage_bucket.buckets" in apply
    assert " destroy " in destroy and "-var force_destroy=true" in destroy
    assert "make infra-destroy" in (INFRA / "README.md").read_text()


def test_the_case_table_is_cloud_sql_on_a_private_address_only(spread: Resources) -> None:
    instance = spread["google_sql_database_instance.cases"]
    assert instance["database_version"].startswith("POSTGRES_")
    (settings,) = instance["settings"]
    (network,) = settings["ip_configuration"]
    assert network["ipv4_enabled"] is False, "a public address"
    assert network["authorized_networks"] == []
    assert network["ssl_mode"] == "ENCRYPTED_ONLY"
    assert settings["backup_configuration"][0]["point_in_time_recovery_enabled"] is True
    assert instance["deletion_protection"] is True
    # The private address comes through the VPC's peering with Google's services.
    peering = spread["google_service_networking_connection.private_services"]
    assert peering["service"] == "servicenetworking.googleapis.com"
    reserved = spread["google_compute_global_address.private_services"]
    assert (reserved["purpose"], reserved["address_type"]) == ("VPC_PEERING", "INTERNAL")
    assert spread["google_sql_database.cases"]["name"] == "fraudstream"


def test_the_case_table_password_is_only_in_secret_manager(spread: Resources) -> None:
    """The password goes to Cloud SQL and into the URL secret; no metadata holds it,
    and only the case consumer's VM may read that secret."""
    user = spread["google_sql_user.cases"]
    password = user["password"]
    drawn = json.loads((PLANS / "plan-secrets.tfvars.json").read_text())
    assert password == drawn["cases_database_password"]  # its own, drawn by `make secrets`
    # The URL holds the private address, so it is known after apply only.
    assert 'google_secret_manager_secret_version.secrets["cases-database-url"]' in spread
    for vm in _booted(spread).values():
        assert password not in json.dumps(vm["metadata"])
    readers = {
        address.split("[", 1)[1].strip('"]').split()[0]
        for address in _of_type(spread, "google_secret_manager_secret_iam_member")
        if address.endswith(' cases-database-url"]')
    }
    assert readers == {"fraud-consumer"}


def _producer_settings(resources: Resources) -> dict[str, str]:
    lines = resources['google_compute_instance.pipeline["producer"]']["metadata"][
        "fraudstream-settings"
    ]
    return dict(line.split("=", 1) for line in lines.splitlines())


def test_a_model_detector_gets_its_model_from_the_artifacts_bucket(
    spread: Resources, single: Resources
) -> None:
    """single plans DETECTOR=gbm with a model file; spread the default label."""
    model = single["google_storage_bucket_object.model[0]"]["name"]
    assert model.startswith("models/gbm-") and model.endswith(".onnx")
    settings = _producer_settings(single)
    assert settings["DETECTOR"] == "gbm"
    assert settings["DETECTOR_MODEL"] == f"gs://my-gcp-project-fraudstream-artifacts/{model}"
    assert load_settings(detector="gbm", detector_model=settings["DETECTOR_MODEL"])
    assert "DETECTOR_MODEL" not in _producer_settings(spread)
    assert not any(".model[" in address for address in spread)


def _queried_metrics(query: str) -> set[str]:
    """The metric names a PromQL query reads, without the suffixes Prometheus adds."""
    names = set(re.findall(r"fraudstream_[a-z_]+", query))
    return {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in names}


def test_one_dashboard_and_an_alert_for_lag_dead_letters_smtp_rejections_and_slow_alerts(
    spread: Resources,
) -> None:
    dashboards = _of_type(spread, "google_monitoring_dashboard")
    assert len(dashboards) == 1
    dashboard = json.loads(next(iter(dashboards.values()))["dashboard_json"])
    queries = [
        tile["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"]
        for tile in dashboard["mosaicLayout"]["tiles"]
    ]
    alerts = _of_type(spread, "google_monitoring_alert_policy")
    conditions = {
        address.split('"')[1]: policy["conditions"][0]["condition_prometheus_query_language"][0]
        for address, policy in alerts.items()
    }
    assert set(conditions) == {"lag-rising", "dead-letters", "smtp-rejections", "fraud-email-slow"}
    slow = conditions["fraud-email-slow"]
    assert 'sink="email/fraud_confirmation"' in slow["query"]
    assert slow["query"].endswith("> 1") and slow["duration"] == "300s"
    assert any("fraudstream_payment_latency_seconds_bucket" in query for query in queries)
    assert "fraudstream_consumer_lag" in conditions["lag-rising"]["query"]
    assert conditions["lag-rising"]["duration"] == "1200s"
    assert "fraudstream_dead_letters_total" in conditions["dead-letters"]["query"]
    assert 'status="rejected"' in conditions["smtp-rejections"]["query"]
    # Every name queried is one the services export: a renamed metric breaks this test.
    read = set().union(
        *(_queried_metrics(q) for q in queries + [c["query"] for c in conditions.values()])
    )
    assert read <= metrics.METRIC_NAMES, read - metrics.METRIC_NAMES
    assert len(read) >= 10
