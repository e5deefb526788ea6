"""How a local Kafka node keeps clients out or encrypts what they send: SASL/SCRAM
logins with ACLs, and TLS with the stack's own authority (as the cloud's nodes do)."""

from __future__ import annotations

from pathlib import Path

from fraudstream.devstack.certificates import CA_FILE, NODE_FILE
from fraudstream.devstack.layout import HOST, Topology

# The super user of a cluster with SASL: the brokers and controllers speak to
# each other as it, and `fraudstream setup` provisions as it.
KAFKA_ADMIN = "admin"


def listeners(topology: Topology, node_id: int) -> dict[str, object]:
    """The client and controller listeners, both of the topology's security protocol
    (``Topology.kafka_protocol``); the brokers replicate over the client one."""
    protocol = topology.kafka_protocol
    port = topology.broker_port(node_id)
    return {
        "listeners": f"{protocol}://{HOST}:{port},"
        f"CONTROLLER://{HOST}:{topology.controller_port(node_id)}",
        "advertised.listeners": f"{protocol}://{HOST}:{port}",
        "listener.security.protocol.map": f"{protocol}:{protocol},CONTROLLER:{protocol}",
        "inter.broker.listener.name": protocol,
    }


def tls_properties(topology: Topology, node_id: int, certificates: Path) -> dict[str, object]:
    """Every listener, the controllers' too, speaks TLS: the node shows the certificate of
    the stack's authority and checks the others' against it (PEM files, no keystore)."""
    return {
        **listeners(topology, node_id),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": certificates / NODE_FILE,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": certificates / CA_FILE,
    }


def sasl_properties(topology: Topology, node_id: int, admin_password: str) -> dict[str, object]:
    """Clients and brokers log in with SCRAM-SHA-512 on the client listener; controllers
    with PLAIN (SCRAM credentials live in the metadata the controllers serve, so they
    cannot check them themselves). The StandardAuthorizer denies what no ACL allows."""
    protocol = topology.kafka_protocol
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule required"
    login = f'username="{KAFKA_ADMIN}" password="{admin_password}"'
    return {
        **listeners(topology, node_id),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        f"listener.name.{protocol.lower()}.scram-sha-512.sasl.jaas.config": f"{scram} {login};",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            f'{plain} {login} user_{KAFKA_ADMIN}="{admin_password}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{KAFKA_ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
    }
