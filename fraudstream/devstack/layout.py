"""Where the local stack lives on disk and which loopback ports it listens on.

The ports match docker/compose.yaml so that the same environment variables
point the pipeline at either stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
FIRST_BROKER_PORT = 9092
FIRST_CONTROLLER_PORT = 9192
REGISTRY_PORT = 8081
REGISTRY_MANAGEMENT_PORT = 8091
REGISTRY_API_PATH = "/apis/ccompat/v7"
GCS_PORT = 4443
SMTP_PORT = 1025
MAIL_API_PORT = 8025
POSTGRES_PORT = 15432  # not 5432: a machine's own PostgreSQL cluster may hold that
PROMETHEUS_PORT = 19090  # not 9090: a machine's own Prometheus may hold that
# Where each part of the demo serves its metrics while it runs (127.0.0.1), and the
# confirmation service of `make confirmation-service`: the stack's Prometheus scrapes them.
METRICS_PORTS = {"producer": 9101, "non-fraud": 9102, "fraud": 9103, "cases": 9104}
CONFIRMATION_SERVICE_METRICS_PORT = 9105
PROMETHEUS_URL = f"http://{HOST}:{PROMETHEUS_PORT}"
DASHBOARD_CONSOLE = "fraudstream.html"  # the dashboard: a console page of Prometheus'
DASHBOARD_URL = f"{PROMETHEUS_URL}/consoles/{DASHBOARD_CONSOLE}"
POSTGRES_USER = "fraudstream"
POSTGRES_DATABASE = "fraudstream"
GCP_PROJECT = "fraudstream-local"

# The checkout this module sits in, if it does: installed from a wheel, the folder above
# the package is site-packages, which has no pyproject.toml.
CHECKOUT = Path(__file__).resolve().parents[2]


def home() -> Path:
    """The stack's folder: ``DEVSTACK_HOME`` if set; else ``.devstack`` in the checkout the
    code runs from; else, installed, ``fraudstream/devstack`` in the user's state folder
    (``XDG_STATE_HOME``, by default ``~/.local/state``). Never inside site-packages."""
    if "DEVSTACK_HOME" in os.environ:
        return Path(os.environ["DEVSTACK_HOME"]).resolve()
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / ".devstack"
    return user_state_folder() / "fraudstream" / "devstack"


def user_state_folder() -> Path:
    """Where the XDG base directory rules put a user's state."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


def cache_dir() -> Path:
    """Downloaded and built tools; kept across runs."""
    return home() / "cache"


def run_dir() -> Path:
    """Pid files, logs and data of the running stack; wiped by each fresh ``up``."""
    return home() / "run"


def tls_dir() -> Path:
    """Where a stack with TLS keeps its authority and its nodes' certificate."""
    return run_dir() / "tls"


@dataclass(frozen=True)
class Topology:
    """The shape of one running stack."""

    brokers: int = 3
    # Clients must log in (SASL/SCRAM-SHA-512) and ACLs decide what each may do.
    sasl: bool = False
    # Every Kafka listener speaks TLS, with a certificate of the stack's own authority.
    tls: bool = False
    first_broker_port: int = FIRST_BROKER_PORT
    first_controller_port: int = FIRST_CONTROLLER_PORT
    # Relayed: node n advertises relay_ports[n - 1], where a relay (a fault layer, in the
    # tests) forwards to the node's client port; the brokers replicate among themselves
    # on replication_ports, past the relays.
    relay_ports: tuple[int, ...] = ()
    replication_ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.brokers not in (1, 3):
            raise ValueError(f"the local stack runs 1 or 3 brokers, not {self.brokers}")
        if (
            self.relayed
            and not len(self.relay_ports) == len(self.replication_ports) == self.brokers
        ):
            raise ValueError("a relayed stack needs a relay and a replication port per broker")
        if self.relayed and (self.sasl or self.tls):
            raise ValueError("a relayed stack runs without SASL or TLS")

    @property
    def relayed(self) -> bool:
        return bool(self.relay_ports or self.replication_ports)

    @property
    def node_ids(self) -> range:
        return range(1, self.brokers + 1)

    def broker_port(self, node_id: int) -> int:
        return self.first_broker_port + node_id - 1

    def advertised_port(self, node_id: int) -> int:
        """Where clients reach the node: its relay's port when relayed, else its own."""
        return self.relay_ports[node_id - 1] if self.relayed else self.broker_port(node_id)

    def controller_port(self, node_id: int) -> int:
        return self.first_controller_port + node_id - 1

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{HOST}:{self.advertised_port(n)}" for n in self.node_ids)

    @property
    def quorum_voters(self) -> str:
        return ",".join(f"{n}@{HOST}:{self.controller_port(n)}" for n in self.node_ids)

    @property
    def replication_factor(self) -> int:
        return self.brokers

    @property
    def min_insync_replicas(self) -> int:
        return min(2, self.brokers)

    def environment(self) -> dict[str, str]:
        """The variables that point fraudstream (and the tests) at this stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "TOPIC_REPLICATION_FACTOR": str(self.replication_factor),
            "SCHEMA_REGISTRY_URL": f"http://{HOST}:{REGISTRY_PORT}{REGISTRY_API_PATH}",
            "STORAGE_EMULATOR_HOST": f"http://{HOST}:{GCS_PORT}",
            "GCP_PROJECT": GCP_PROJECT,
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(SMTP_PORT),
            "MAIL_API_URL": f"http://{HOST}:{MAIL_API_PORT}",
            "DASHBOARD_URL": DASHBOARD_URL,
            **({"TLS_CA_FILE": str(tls_dir() / "ca.pem")} if self.tls else {}),
        }

    @property
    def kafka_protocol(self) -> str:
        """The security protocol of the client listener (librdkafka's and Kafka's name)."""
        return f"{'SASL_' if self.sasl else ''}{'SSL' if self.tls else 'PLAINTEXT'}"
