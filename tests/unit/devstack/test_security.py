"""A local Kafka node's listeners with SASL, TLS or both, as the cloud's nodes run them."""

from __future__ import annotations

from pathlib import Path

from fraudstream.devstack.certificates import NODE_FILE
from fraudstream.devstack.layout import Topology
from fraudstream.devstack.services import kafka_node_properties


def test_a_node_with_tls_and_sasl_speaks_sasl_ssl_on_every_listener(tmp_path: Path) -> None:
    topology = Topology(brokers=1, sasl=True, tls=True)
    text = kafka_node_properties(topology, 1, Path("/d"), "pw", tmp_path)
    node = dict(line.split("=", 1) for line in text.splitlines())
    assert node["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL"
    assert node["inter.broker.listener.name"] == "SASL_SSL"
    assert node["ssl.keystore.location"] == str(tmp_path / NODE_FILE)
    assert "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config" in node
    assert not any("PLAINTEXT" in value for value in node.values())
    plain_tls = kafka_node_properties(Topology(brokers=1, tls=True), 1, Path("/d"), None, tmp_path)
    assert "listener.security.protocol.map=SSL:SSL,CONTROLLER:SSL" in plain_tls
    assert Topology(tls=True).environment()["TLS_CA_FILE"].endswith("tls/ca.pem")
