"""The processes of the local stack and the configuration each one reads."""

from __future__ import annotations

import base64
import os
import urllib.request
import uuid
from pathlib import Path

from fraudstream.devstack.install import Installed
from fraudstream.devstack.layout import (
    GCS_PORT,
    HOST,
    MAIL_API_PORT,
    POSTGRES_PORT,
    POSTGRES_USER,
    PROMETHEUS_PORT,
    REGISTRY_MANAGEMENT_PORT,
    REGISTRY_PORT,
    SMTP_PORT,
    Topology,
)
from fraudstream.devstack.process import Service
from fraudstream.devstack.security import KAFKA_ADMIN, sasl_properties, tls_properties

KAFKA_HEAP = "512m"
REGISTRY_HEAP = "512m"


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def kafka_node_properties(
    topology: Topology,
    node_id: int,
    data_dir: Path,
    admin_password: str | None = None,
    certificates: Path | None = None,
) -> str:
    """server.properties for one combined broker+controller node (with ``topology.sasl``,
    ``admin_password`` is the super user's; with ``topology.tls``, ``certificates`` is the
    folder ``certificates.ensure_certificates`` made)."""
    replicas = topology.replication_factor
    settings: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": topology.quorum_voters,
        "listeners": (
            f"PLAINTEXT://{HOST}:{topology.broker_port(node_id)},"
            f"CONTROLLER://{HOST}:{topology.controller_port(node_id)}"
        ),
        "advertised.listeners": f"PLAINTEXT://{HOST}:{topology.broker_port(node_id)}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": data_dir,
        # Topics are created by the pipeline with explicit settings, never by accident.
        "auto.create.topics.enable": "false",
        "num.partitions": 1,
        "default.replication.factor": replicas,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": topology.min_insync_replicas,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": topology.min_insync_replicas,
        "group.initial.rebalance.delay.ms": 0,
    }
    if topology.relayed:
        settings |= relayed_properties(topology, node_id)
    if topology.tls:
        if certificates is None:
            raise ValueError("a cluster with TLS needs its certificates")
        settings |= tls_properties(topology, node_id, certificates)
    if topology.sasl:
        if admin_password is None:
            raise ValueError("a cluster with SASL needs its administrator's password")
        settings |= sasl_properties(topology, node_id, admin_password)
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def relayed_properties(topology: Topology, node_id: int) -> dict[str, object]:
    """Clients are told the relay's address; replication takes a listener of its own."""
    replication = f"{HOST}:{topology.replication_ports[node_id - 1]}"
    return {
        "listeners": (
            f"PLAINTEXT://{HOST}:{topology.broker_port(node_id)},REPLICATION://{replication},"
            f"CONTROLLER://{HOST}:{topology.controller_port(node_id)}"
        ),
        "advertised.listeners": (
            f"PLAINTEXT://{HOST}:{topology.advertised_port(node_id)},REPLICATION://{replication}"
        ),
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "inter.broker.listener.name": "REPLICATION",
    }


def kafka_format_command(installed: Installed, arguments: Path) -> list[str]:
    """Format a node's storage with the tool and arguments written in the file ``arguments``
    (``kafka_format_arguments``): java reads them from there (an @file), so the super
    user's password is on no command line."""
    return [
        installed.java,
        "-cp",
        f"{installed.kafka_libs}/*",
        f"-Dlog4j2.configurationFile={installed.kafka_log4j_config}",
        f"@{arguments}",
    ]


def kafka_format_arguments(cluster_id: str, config: Path, admin_password: str | None) -> str:
    """The storage tool and its arguments, one a line, quoted as java's @files take them;
    with ``admin_password``, the super user's SCRAM credentials go in the first metadata,
    so brokers can log in to each other at once."""
    scram = (
        ["--add-scram", f"SCRAM-SHA-512=[name={KAFKA_ADMIN},password={admin_password}]"]
        if admin_password is not None
        else []
    )
    arguments = [
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cluster_id}",  # one argument: an id may begin with "-"
        "--config",
        str(config),
        "--ignore-formatted",
        *scram,
    ]
    return "".join(f"{_java_quoted(argument)}\n" for argument in arguments)


def _java_quoted(argument: str) -> str:
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def kafka_node(installed: Installed, node_id: int, config: Path) -> Service:
    return Service(
        name=f"kafka-{node_id}",
        argv=[
            installed.java,
            f"-Xms{KAFKA_HEAP}",
            f"-Xmx{KAFKA_HEAP}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={installed.kafka_log4j_config}",
            "-cp",
            f"{installed.kafka_libs}/*",
            "kafka.Kafka",
            str(config),
        ],
    )


def schema_registry(installed: Installed) -> Service:
    # Apicurio keeps its schemas in memory (H2): the stack is ephemeral.
    return Service(
        name="schema-registry",
        argv=[installed.java, f"-Xmx{REGISTRY_HEAP}", "-jar", str(installed.registry_jar)],
        env={
            "QUARKUS_HTTP_HOST": HOST,
            "QUARKUS_HTTP_PORT": str(REGISTRY_PORT),
            "QUARKUS_MANAGEMENT_HOST": HOST,
            "QUARKUS_MANAGEMENT_PORT": str(REGISTRY_MANAGEMENT_PORT),
            "QUARKUS_LOG_LEVEL": "WARN",
        },
        cwd=installed.registry_jar.parent,
    )


def gcs_emulator(installed: Installed, data_dir: Path) -> Service:
    return Service(
        name="gcs-emulator",
        argv=[
            str(installed.fake_gcs_server),
            "-scheme",
            "http",
            "-host",
            HOST,
            "-port",
            str(GCS_PORT),
            "-public-host",
            f"{HOST}:{GCS_PORT}",
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(data_dir),
            "-log-level",
            "warn",
        ],
    )


def mail_catcher(
    installed: Installed, mail_dir: Path, smtp_port: int = SMTP_PORT, api_port: int = MAIL_API_PORT
) -> Service:
    return Service(
        name="mail-catcher",
        argv=[
            installed.node,
            str(installed.maildev),
            "--ip",
            HOST,
            "--smtp",
            str(smtp_port),
            "--web-ip",
            HOST,
            "--web",
            str(api_port),
            "--mail-directory",
            str(mail_dir),
        ],
    )


def empty_mail_catcher(api_url: str) -> None:
    """Delete every email the mail catcher holds (MailDev's ``DELETE /email/all``): it keeps
    them in memory, slows as it fills, and lists them all in one response."""
    request = urllib.request.Request(f"{api_url}/email/all", method="DELETE")
    with urllib.request.urlopen(request, timeout=60):
        pass


def as_database_owner() -> list[str]:
    """The prefix that runs PostgreSQL's programs: they refuse to run as root, so root
    runs them as the ``postgres`` user Debian's package made."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def postgres_init_command(installed: Installed, data_dir: Path, password_file: Path) -> list[str]:
    return [
        *as_database_owner(),
        str(installed.postgres_bin / "initdb"),
        "--pgdata",
        str(data_dir),
        "--username",
        POSTGRES_USER,
        "--auth",
        "scram-sha-256",
        "--pwfile",
        str(password_file),
        "--encoding",
        "UTF8",
        "--locale",
        "C.UTF-8",
        "--no-instructions",
    ]


def postgresql(installed: Installed, data_dir: Path) -> Service:
    # TCP on loopback only, no Unix socket: nothing outside this stack can reach it.
    return Service(
        name="postgresql",
        argv=[
            str(installed.postgres_bin / "postgres"),
            "-D",
            str(data_dir),
            "-h",
            HOST,
            "-p",
            str(POSTGRES_PORT),
            "-k",
            "",
            "-c",
            "max_connections=50",
        ],
        run_as=as_database_owner(),
        cwd=Path("/"),  # root's postgres user may not enter the folder it was started from
    )


def prometheus(installed: Installed, root: Path) -> Service:
    """Prometheus on loopback, its data, configuration and console page under ``root``
    (``dashboard.write_configuration``)."""
    return Service(
        name="prometheus",
        argv=[
            installed.prometheus,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address={HOST}:{PROMETHEUS_PORT}",
            f"--web.console.templates={root / 'consoles'}",
            f"--web.console.libraries={root / 'consoles'}",
            "--log.level=warn",
        ],
    )
