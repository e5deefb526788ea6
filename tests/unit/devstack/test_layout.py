from __future__ import annotations

import base64
from pathlib import Path

import pytest

from fraudstream.devstack import logins, versions
from fraudstream.devstack.install import (
    InstallError,
    parse_go_version,
    parse_java_major,
    require_java,
)
from fraudstream.devstack.layout import Topology
from fraudstream.devstack.services import kafka_node_properties, new_cluster_id
from fraudstream.devstack.stack import ports, service_names
from fraudstream.settings.config import Settings


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_three_node_cluster_shares_one_quorum_on_loopback() -> None:
    topology = Topology(brokers=3)
    nodes = [_properties(kafka_node_properties(topology, n, Path("/d"))) for n in topology.node_ids]
    assert {node["controller.quorum.voters"] for node in nodes} == {
        "1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
    }
    assert [node["advertised.listeners"] for node in nodes] == [
        "PLAINTEXT://127.0.0.1:9092",
        "PLAINTEXT://127.0.0.1:9093",
        "PLAINTEXT://127.0.0.1:9094",
    ]
    for node in nodes:
        assert node["process.roles"] == "broker,controller"
        assert node["offsets.topic.replication.factor"] == "3"
        assert node["transaction.state.log.min.isr"] == "2"
        assert node["auto.create.topics.enable"] == "false"
        assert all(
            address.split("//")[1].startswith("127.0.0.1:")
            for address in node["listeners"].split(",")
        )


def test_one_node_cluster_needs_no_replicas() -> None:
    node = _properties(kafka_node_properties(Topology(brokers=1), 1, Path("/d")))
    assert node["controller.quorum.voters"] == "1@127.0.0.1:9192"
    assert node["offsets.topic.replication.factor"] == "1"
    assert node["transaction.state.log.min.isr"] == "1"


def test_a_relayed_node_sends_clients_to_its_relay_and_replicates_past_it() -> None:
    topology = Topology(
        brokers=3, relay_ports=(7001, 7002, 7003), replication_ports=(7101, 7102, 7103)
    )
    node = _properties(kafka_node_properties(topology, 2, Path("/d")))
    assert node["listeners"] == (
        "PLAINTEXT://127.0.0.1:9093,REPLICATION://127.0.0.1:7102,CONTROLLER://127.0.0.1:9193"
    )
    assert node["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:7002,REPLICATION://127.0.0.1:7102"
    )
    assert node["inter.broker.listener.name"] == "REPLICATION"
    assert topology.bootstrap_servers == "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"


def test_a_relayed_stack_needs_both_ports_for_every_node() -> None:
    with pytest.raises(ValueError, match="a relay and a replication port per broker"):
        Topology(brokers=3, relay_ports=(7001, 7002, 7003))


def test_only_one_or_three_brokers() -> None:
    with pytest.raises(ValueError, match="1 or 3"):
        Topology(brokers=2)


def test_every_process_has_its_own_port() -> None:
    topology = Topology(brokers=3)
    assert len(set(ports(topology))) == len(ports(topology)) == 13
    assert service_names(topology)[:3] == ["kafka-1", "kafka-2", "kafka-3"]


def test_environment_uses_the_pipeline_variable_names() -> None:
    environment = Topology(brokers=1).environment()
    settings_variables = {name.upper() for name in Settings.model_fields}
    # Read by the GCS client; the demo's summary and the tests.
    extra = {"STORAGE_EMULATOR_HOST", "MAIL_API_URL", "DASHBOARD_URL"}
    assert set(environment) <= settings_variables | extra
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert environment["TOPIC_REPLICATION_FACTOR"] == "1"


def test_cluster_id_is_a_base64_uuid() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


@pytest.mark.parametrize(
    ("banner", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_402"', 8),
        ('openjdk version "21" 2023-09-19', 21),
    ],
)
def test_java_major_version(banner: str, major: int) -> None:
    assert parse_java_major(banner) == major


def test_unreadable_versions_are_reported() -> None:
    with pytest.raises(InstallError):
        parse_java_major("command not found")
    with pytest.raises(InstallError):
        parse_go_version("")
    assert parse_go_version("go version go1.26.8 linux/amd64") == (1, 26)


def test_every_download_is_pinned() -> None:
    pinned = [
        versions.KAFKA,
        versions.LOG4J,
        versions.SLF4J,
        versions.APICURIO_REGISTRY,
        versions.FAKE_GCS_SERVER,
        versions.MAILDEV,
    ]
    assert all(any(char.isdigit() for char in version) for version in pinned)
    assert "latest" not in " ".join(pinned)


def test_a_missing_tool_is_named_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InstallError, match=r"'java' not found: install Java 17\+"):
        require_java()


def test_the_token_key_is_made_once_private_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSTACK_HOME", str(tmp_path))
    (tmp_path / "run").mkdir()
    key = logins.token_key()
    assert len(key) >= 32 and logins.token_key() == key
    assert (tmp_path / "run" / "confirmation-token-key").stat().st_mode & 0o077 == 0
