"""docker/compose.yaml cannot run here, so these checks keep it in step with the native stack."""

from __future__ import annotations

import base64
import fnmatch
import tomllib
from typing import Any

import pytest
import yaml

from fraudstream.devstack.layout import (
    CONFIRMATION_SERVICE_METRICS_PORT,
    GCS_PORT,
    MAIL_API_PORT,
    METRICS_PORTS,
    POSTGRES_PORT,
    REGISTRY_PORT,
    SMTP_PORT,
    Topology,
)
from fraudstream.settings.config import Settings
from tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker" / "compose.yaml"
APP_IMAGE = "fraudstream:local"
KAFKA_UI_PORT = 9080
LONG_RUNNING = ("non-fraud-consumer", "fraud-consumer", "cases-consumer", "confirmation-service")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def _published(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, host port) of every published port."""
    published = []
    for mapping in service.get("ports", []):
        address, host_port, _container_port = str(mapping).split(":")
        published.append((address, int(host_port)))
    return published


def test_every_part_of_the_native_stack_is_there(services: dict[str, Any]) -> None:
    expected = {
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "schema-registry",
        "kafka-ui",
        "gcs-emulator",
        "mail-catcher",
        "producer",
        "non-fraud-consumer",
        "fraud-consumer",
        "cases-consumer",
        "postgresql",
        "confirmation-service",
    }
    assert expected <= set(services)
    assert services["non-fraud-consumer"]["command"] == ["consume", "non-fraud"]
    assert services["fraud-consumer"]["command"] == ["consume", "fraud"]
    assert services["cases-consumer"]["command"] == ["consume", "cases"]


def test_ports_match_the_native_stack(services: dict[str, Any]) -> None:
    topology = Topology(brokers=3)
    for node in topology.node_ids:
        assert _published(services[f"kafka-{node}"]) == [("127.0.0.1", topology.broker_port(node))]
    assert _published(services["schema-registry"]) == [("127.0.0.1", REGISTRY_PORT)]
    assert _published(services["gcs-emulator"]) == [("127.0.0.1", GCS_PORT)]
    assert _published(services["mail-catcher"]) == [
        ("127.0.0.1", SMTP_PORT),
        ("127.0.0.1", MAIL_API_PORT),
    ]
    assert _published(services["kafka-ui"]) == [("127.0.0.1", KAFKA_UI_PORT)]
    assert _published(services["postgresql"]) == [("127.0.0.1", POSTGRES_PORT)]


def test_nothing_is_published_beyond_loopback(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for address, _port in _published(service):
            assert address == "127.0.0.1", f"{name} publishes on {address}"


def test_brokers_form_one_kraft_cluster(services: dict[str, Any]) -> None:
    brokers = [services[f"kafka-{node}"]["environment"] for node in (1, 2, 3)]
    assert {env["CLUSTER_ID"] for env in brokers} == {brokers[0]["CLUSTER_ID"]}
    assert len(base64.urlsafe_b64decode(brokers[0]["CLUSTER_ID"] + "==")) == 16
    assert [env["KAFKA_NODE_ID"] for env in brokers] == [1, 2, 3]
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in brokers}
    assert len(voters) == 1
    assert len(voters.pop().split(",")) == 3
    for env in brokers:
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        ports = [listener.rsplit(":", 1)[1] for listener in env["KAFKA_LISTENERS"].split(",")]
        assert len(set(ports)) == len(ports), f"listeners share a port: {env['KAFKA_LISTENERS']}"


def test_app_services_use_the_pipeline_variable_names(services: dict[str, Any]) -> None:
    known = {name.upper() for name in Settings.model_fields} | {"STORAGE_EMULATOR_HOST"}
    defaults = Settings.model_construct()
    apps = _apps(services)
    assert apps, "no application service runs the image docker/Dockerfile builds"
    for name, service in apps.items():
        environment = service["environment"]
        assert set(environment) <= known, f"{name}: unknown {set(environment) - known}"
        assert environment["FRAUD_TOPIC"] == defaults.fraud_topic
        assert environment["NON_FRAUD_TOPIC"] == defaults.non_fraud_topic


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "image" in service:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def _apps(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if s.get("image") == APP_IMAGE}


def test_the_image_is_the_locked_packages_and_a_wheel_of_the_tree() -> None:
    dockerfile = (COMPOSE_FILE.parent / "Dockerfile").read_text()
    assert "pip install --require-hashes --requirement /tmp/requirements.lock" in dockerfile
    assert "COPY . /tmp/src" in dockerfile and "pip install --no-deps /tmp/src" in dockerfile
    assert "USER fraudstream" in dockerfile


def test_the_build_context_keeps_what_the_wheel_is_made_of() -> None:
    """The package, the data folders the wheel carries inside it (the schemas, the
    templates) and the files the wheel reads pass .dockerignore; the rest stays out."""
    ignored = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    carried = set(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "package-dir"
        ].values()
    )
    assert carried == {"schemas", "email_templates"}
    needed = {
        "fraudstream",
        *carried,
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "requirements.lock",
    }
    for entry in sorted(needed):
        assert (REPO_ROOT / entry).exists(), entry
        assert not [p for p in ignored if fnmatch.fnmatch(entry, p)], f"{entry} is ignored"
    for heavy in (".venv", ".devstack", ".git", "build", "tests"):
        assert any(fnmatch.fnmatch(heavy, p) for p in ignored), f"{heavy} is sent to the engine"


def test_one_image_for_every_pipeline_service_built_once(services: dict[str, Any]) -> None:
    apps = _apps(services)
    assert set(apps) == {
        "setup",
        "producer",
        "non-fraud-consumer",
        "fraud-consumer",
        "cases-consumer",
        "confirmation-service",
        "cli",
    }
    assert [name for name, s in apps.items() if "build" in s] == ["setup"]
    assert [name for name, s in apps.items() if s.get("profiles")] == ["cli"]  # run by hand
    assert all(s["pull_policy"] == "never" for name, s in apps.items() if name != "setup")


def test_each_service_waits_for_what_it_needs_to_be_ready(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if service.get("restart") == "unless-stopped" or name.startswith("kafka-"):
            assert service.get("healthcheck"), f"{name}: a long-running service without one"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without a condition"
        for needed, how in depends.items():
            wanted = "service_completed_successfully" if needed == "setup" else "service_healthy"
            assert how == {"condition": wanted}, (name, needed, how)


def test_the_token_key_must_come_from_the_environment(services: dict[str, Any]) -> None:
    for name in ("fraud-consumer", "confirmation-service"):
        key = services[name]["environment"]["CONFIRMATION_TOKEN_KEY"]
        assert key.startswith("${CONFIRMATION_TOKEN_KEY:?"), f"{name}: a key is written in the file"


def test_the_note_key_comes_from_the_environment_to_the_email_consumers_alone(
    services: dict[str, Any],
) -> None:
    holders = {
        name for name, s in services.items() if "CONSUMER_NOTE_KEY" in s.get("environment", {})
    }
    assert holders == {"fraud-consumer", "non-fraud-consumer"}
    for name in holders:
        key = services[name]["environment"]["CONSUMER_NOTE_KEY"]
        assert key.startswith("${CONSUMER_NOTE_KEY:?"), f"{name}: a key is written in the file"


def test_the_confirmation_service_listens_in_its_container_published_on_loopback(
    services: dict[str, Any],
) -> None:
    service = services["confirmation-service"]
    assert service["environment"]["CONFIRMATION_HOST"] == "0.0.0.0"
    port = int(service["environment"]["CONFIRMATION_PORT"])
    assert ("127.0.0.1", port) in _published(service)
    base_url = service["environment"]["CONFIRMATION_BASE_URL"]
    assert base_url == f"http://127.0.0.1:{port}"


def test_every_service_s_metrics_are_published_on_loopback(services: dict[str, Any]) -> None:
    """Inside its container a service's metrics listen on every address of the container;
    the engine publishes them on the host's loopback only, at the native stack's ports."""
    ports = {
        name: int(s["environment"]["METRICS_PORT"])
        for name, s in _apps(services).items()
        if isinstance(s.get("environment"), dict) and "METRICS_PORT" in s["environment"]
    }
    ports["producer"] = METRICS_PORTS["producer"]  # `demo` serves the producer's itself
    assert set(ports) == {"producer", *LONG_RUNNING}
    for name, port in ports.items():
        assert ("127.0.0.1", port) in _published(services[name]), name
        assert services[name]["environment"]["METRICS_HOST"] == "0.0.0.0", name
    assert sorted(ports.values()) == sorted(
        {*METRICS_PORTS.values(), CONFIRMATION_SERVICE_METRICS_PORT}
    )


def test_every_pipeline_service_starts_after_setup_succeeded(services: dict[str, Any]) -> None:
    """Services check the topics, schemas and buckets; only ``setup`` creates them."""
    assert services["setup"]["command"] == ["setup"]
    for name, service in services.items():
        if service.get("build") and name != "setup":
            assert service["depends_on"]["setup"] == {"condition": "service_completed_successfully"}


def test_the_case_table_outlives_down_in_a_named_volume(services: dict[str, Any]) -> None:
    """`make docker-down` then `make docker-up` finds the cases, and docker/.env keeps the
    password they were stored under (tests/unit/repository/test_docker_env.py)."""
    declared = yaml.safe_load(COMPOSE_FILE.read_text())["volumes"]
    mounts = [mount.split(":") for mount in services["postgresql"]["volumes"]]
    assert [(name, path) for name, path in mounts] == [
        ("cases-database", "/var/lib/postgresql/data")
    ]
    assert "cases-database" in declared
