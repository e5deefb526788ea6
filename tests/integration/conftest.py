"""The local stack for integration tests.

If the environment already points at a stack (KAFKA_BOOTSTRAP_SERVERS,
SCHEMA_REGISTRY_URL, STORAGE_EMULATOR_HOST, SMTP_HOST, SMTP_PORT and
MAIL_API_URL all set), the tests use it. Otherwise they start the native
three-broker stack, and stop it at the end if they were the ones to start it.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from google.api_core.exceptions import NotFound
from playwright.sync_api import Browser, sync_playwright

from fraudstream.devstack import health, process, services
from fraudstream.devstack import postgres as devstack_postgres
from fraudstream.devstack import stack as devstack
from fraudstream.devstack.install import ensure_installed
from fraudstream.devstack.layout import HOST, Topology, cache_dir
from fraudstream.devstack.services import empty_mail_catcher
from fraudstream.kafka import Connection, client_config
from fraudstream.kafka.registry import registry_client
from fraudstream.settings.config import Settings, load_settings
from fraudstream.storage.lake import storage_client
from fraudstream.topology import topology
from fraudstream.wiring.provision import provision
from tests.conftest import REPO_ROOT
from tests.integration.pipeline import kill_leftover_consumers
from tests.outage import Relay

STACK_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "SCHEMA_REGISTRY_URL",
    "STORAGE_EMULATOR_HOST",
    "SMTP_HOST",
    "SMTP_PORT",
    "MAIL_API_URL",
    "CASES_DATABASE_URL",
)


@dataclass(frozen=True)
class Stack:
    bootstrap_servers: str
    schema_registry_url: str
    storage_emulator_host: str
    smtp_host: str
    smtp_port: int
    mail_api_url: str

    @property
    def broker_count(self) -> int:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        return len(admin.list_topics(timeout=10).brokers)


def _devstack(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fraudstream.devstack", *args], cwd=REPO_ROOT, check=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    started_here = False
    if not all(os.environ.get(name) for name in STACK_VARIABLES):
        started_here = devstack.running_topology() is None
        _devstack("up", "--brokers", "3")
        os.environ.update(Topology(brokers=3).environment())
        os.environ["CASES_DATABASE_URL"] = devstack_postgres.database_url()
    yield Stack(
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        schema_registry_url=os.environ["SCHEMA_REGISTRY_URL"],
        storage_emulator_host=os.environ["STORAGE_EMULATOR_HOST"],
        smtp_host=os.environ["SMTP_HOST"],
        smtp_port=int(os.environ["SMTP_PORT"]),
        mail_api_url=os.environ["MAIL_API_URL"],
    )
    if started_here:
        _devstack("down")


@dataclass(frozen=True)
class MailCatcher:
    smtp_port: int
    api_url: str


@pytest.fixture
def mail_catcher(stack: Stack, request: pytest.FixtureRequest) -> MailCatcher:
    """The mail server the pipeline sends to, and the API that lists what it took: the
    stack's, or for a test marked ``isolated`` its module's own (``own_mail_catcher``)."""
    if request.node.get_closest_marker("isolated"):
        own: MailCatcher = request.getfixturevalue("own_mail_catcher")
        return own
    return MailCatcher(stack.smtp_port, stack.mail_api_url)


@pytest.fixture(scope="module")
def own_mail_catcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    """A mail catcher of the module's own, for a module marked ``isolated``, which runs
    beside the rest of the suite: every other pipeline test empties the stack's catcher
    when it starts."""
    root = tmp_path_factory.mktemp("mail-catcher")
    (root / "mail").mkdir()
    smtp_port, api_port = free_port(), free_port()
    installed = ensure_installed(cache_dir())
    process.start(services.mail_catcher(installed, root / "mail", smtp_port, api_port), root)
    catcher = MailCatcher(smtp_port, f"http://{HOST}:{api_port}")
    try:
        health.wait_until_healthy(
            "mail catcher", lambda: health.mail_catcher_answers(catcher.api_url), 60
        )
        yield catcher
    finally:
        process.stop(root, "mail-catcher")


@pytest.fixture
def bare_settings(stack: Stack, mail_catcher: MailCatcher) -> Iterator[Settings]:
    """Settings with topics and buckets of their own, so tests never see each other's data;
    none of them exists yet. The mail catcher is emptied first: it lists every message it
    holds at once, and after a few hundred thousand it fails to (HTTP 500). The topics
    and their schemas are deleted afterwards: a cluster that kept every test's topics
    (some 700 by the end of the suite) would slow down as the suite goes, and the
    benchmarks run after it; a registry keeping every subject lists only the first 1,000."""
    empty_mail_catcher(mail_catcher.api_url)
    settings = _named_settings(uuid.uuid4().hex[:8], stack, mail_catcher.smtp_port)
    yield settings
    topics = topology(settings).topics
    _delete_topics(settings.kafka_connection, {topic.name for topic in topics})
    _delete_subjects(settings.schema_registry_url, [topic.subject for topic in topics])


@pytest.fixture
def topic_name(stack: Stack) -> Iterator[str]:
    """A topic name of the test's own; the topic and its value subject, if the test made
    them, are deleted afterwards."""
    name = f"it-topic-{uuid.uuid4().hex[:8]}"
    yield name
    _delete_topics(stack.bootstrap_servers, {name})
    _delete_subjects(stack.schema_registry_url, [f"{name}-value"])


def _named_settings(suffix: str, stack: Stack, smtp_port: int) -> Settings:
    return load_settings(
        smtp_port=smtp_port,
        fraud_topic=f"it-fraud-{suffix}",
        non_fraud_topic=f"it-normal-{suffix}",
        rejected_topic=f"it-rejected-{suffix}",
        checkpoint_topic=f"it-checkpoints-{suffix}",
        confirmation_topic=f"it-answers-{suffix}",
        dead_letter_topic=f"it-dead-{suffix}",
        non_fraud_consumer_group=f"it-notifier-{suffix}",
        fraud_consumer_group=f"it-confirmer-{suffix}",
        cases_consumer_group=f"it-cases-{suffix}",
        cases_database_url=f"sqlite:///{tempfile.gettempdir()}/fraudstream-it/{suffix}.sqlite3",
        customer_email_domain=f"it-{suffix}.example",
        confirmation_token_key=secrets.token_urlsafe(32),
        consumer_note_key=secrets.token_urlsafe(32),
        dataset_bucket=f"it-dataset-{suffix}",
        lake_bucket=f"it-lake-{suffix}",
        topic_partitions=3,
        topic_replication_factor=min(3, stack.broker_count),
        batch_max_seconds=5.0,  # half the default: a test waits for its last lake batch
    )


def _delete_topics(connection: Connection, named: set[str]) -> None:
    """Delete whichever of the ``named`` topics exist; a warning, not a failure, if Kafka
    will not (the test is over: what it left is only clutter)."""
    admin = AdminClient(client_config(connection))
    try:
        existing = sorted(named & set(admin.list_topics(timeout=30).topics))
        if existing:
            for deleted in admin.delete_topics(existing, operation_timeout=60).values():
                deleted.result()
    except KafkaException as error:
        warnings.warn(f"the test's topics were left: {error}", stacklevel=1)


def _delete_subjects(registry_url: str, subjects: list[str]) -> None:
    """Delete whichever of the schema ``subjects`` exist, warning if the registry will not."""
    client = registry_client(registry_url)
    for subject in subjects:
        try:
            client.delete_subject(subject)
        except SchemaRegistryError as error:
            if error.http_status_code != HTTPStatus.NOT_FOUND:
                warnings.warn(f"{subject} was left: {error}", stacklevel=1)


def forget_deployment(settings: Settings) -> None:
    """Delete a deployment's topics, schemas, consumer groups and buckets (compose's, which
    uses the default names): a deployment starts with nothing of its own."""
    topics = topology(settings).topics
    _delete_topics(settings.kafka_connection, {topic.name for topic in topics})
    _delete_subjects(settings.schema_registry_url, [topic.subject for topic in topics])
    groups = [
        settings.non_fraud_consumer_group,
        settings.fraud_consumer_group,
        settings.cases_consumer_group,
    ]
    admin = AdminClient(client_config(settings.kafka_connection))
    for deleted in admin.delete_consumer_groups(groups).values():
        with contextlib.suppress(KafkaException):  # the group did not exist
            deleted.result()
    client = storage_client(settings.gcp_project)
    for name in (settings.lake_bucket, settings.dataset_bucket):
        try:
            for blob in client.list_blobs(name):
                blob.delete()
            client.bucket(name).delete()
        except NotFound:
            pass


@pytest.fixture
def settings(bare_settings: Settings) -> Settings:
    """``bare_settings`` with every topic, schema and bucket made, as `fraudstream setup` does."""
    provision(bare_settings, say=lambda _line: None)
    return bare_settings


@pytest.fixture(autouse=True)
def no_consumer_left_running() -> Iterator[None]:
    """A test that fails half-way leaves no consumer process running after it."""
    yield
    kill_leftover_consumers()


@pytest.fixture(scope="session")
def three_brokers(stack: Stack) -> Stack:
    if stack.broker_count < 3:
        pytest.skip("needs a three-broker cluster; the stack in use has fewer")
    return stack


def kafka_login(user: str, password: str) -> dict[str, str]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
    }


def free_port() -> int:
    """A loopback port free now, below the range the system takes clients' ports from: a
    server started a few seconds later does not find it taken by a connection's source
    port (the main lane opens thousands meanwhile)."""
    below = _ephemeral_ports_start()
    for _ in range(1000):
        port = random.randrange(10_000, below)
        if _port_is_free(port):
            return port
    raise RuntimeError(f"no free port found between 10000 and {below}")


def _ephemeral_ports_start(default: int = 32_768) -> int:
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default
    return first if first > 20_000 else default


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are all free now."""
    for _ in range(100):
        first = free_port()
        if all(_port_is_free(port) for port in range(first + 1, first + count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RelayedKafka:
    """A three-node cluster whose clients reach node n through ``relays[n - 1]``."""

    topology: Topology
    relays: list[Relay]

    @property
    def bootstrap_servers(self) -> str:
        return self.topology.bootstrap_servers

    @property
    def direct_servers(self) -> str:
        """The brokers' replication listener, past the relays: for reading back what the
        clients under test left, at full speed whatever the relays are doing."""
        return ",".join(f"{HOST}:{port}" for port in self.topology.replication_ports)

    def heal(self) -> None:
        for relay in self.relays:
            relay.heal()


@pytest.fixture(scope="module")
def relayed_kafka(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayedKafka]:
    """A cluster of its own for network faults: every client connection goes through a
    relay, replication does not. Stopped when the module's tests are done."""
    root = tmp_path_factory.mktemp("relayed-kafka")
    first_broker_port = free_ports(3)
    relays = [Relay(HOST, first_broker_port + index, kafka=True) for index in range(3)]
    topology = Topology(
        brokers=3,
        first_broker_port=first_broker_port,
        first_controller_port=free_ports(3),
        relay_ports=tuple(relay.port for relay in relays),
        replication_ports=tuple(free_port() for _ in relays),
    )
    try:
        devstack.start_kafka(topology, ensure_installed(cache_dir()), root)
        health.wait_until_healthy("relayed kafka", lambda: _listed_or_dead(topology, root), 180)
        yield RelayedKafka(topology, relays)
    finally:
        for node_id in topology.node_ids:
            process.stop(root, f"kafka-{node_id}")
        for relay in relays:
            relay.close()


def _listed_or_dead(topology: Topology, root: Path) -> bool:
    """Whether every node is listed; a node whose process has exited fails at once, with
    the end of its log, rather than after the health check's wait."""
    for node_id in topology.node_ids:
        name = f"kafka-{node_id}"
        if process.running_pid(root, name) is None:
            tail = process.log_file(root, name).read_text(errors="replace")[-2000:]
            raise health.StackNotHealthyError(f"{name} exited; the end of its log:\n{tail}")
    return health.kafka_brokers_listed(topology)


# Per module: the node's JVM stops when the module's tests are done, not at the end of
# the session, so it does not slow the cluster tests that follow on a 2-core machine.
@pytest.fixture(scope="module")
def sasl_kafka(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One KRaft node that takes SASL/SCRAM logins only: its bootstrap and admin password."""
    root = tmp_path_factory.mktemp("sasl-kafka")
    topology = Topology(
        brokers=1, sasl=True, first_broker_port=free_port(), first_controller_port=free_port()
    )
    password = secrets.token_urlsafe(18)
    devstack.start_kafka(topology, ensure_installed(cache_dir()), root, password)
    login = kafka_login("admin", password)
    try:
        health.wait_until_healthy(
            "sasl kafka", lambda: health.kafka_brokers_listed(topology, login), 120
        )
        yield topology.bootstrap_servers, password
    finally:
        process.stop(root, "kafka-1")


@pytest.fixture(scope="module")
def tls_kafka(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    """One KRaft node as the cloud's: every listener SASL_SSL, with a certificate of an
    authority of its own."""
    root = tmp_path_factory.mktemp("tls-kafka")
    topology = Topology(
        brokers=1,
        sasl=True,
        tls=True,
        first_broker_port=free_port(),
        first_controller_port=free_port(),
    )
    password = secrets.token_urlsafe(18)
    devstack.start_kafka(topology, ensure_installed(cache_dir()), root, password)
    node = TlsKafka(topology.bootstrap_servers, password, root / "tls" / "ca.pem")
    login = {**kafka_login("admin", password), **node.client_settings}
    try:
        health.wait_until_healthy(
            "tls kafka", lambda: health.kafka_brokers_listed(topology, login), 120
        )
        yield node
    finally:
        process.stop(root, "kafka-1")


@dataclass(frozen=True)
class TlsKafka:
    bootstrap_servers: str
    admin_password: str
    ca_file: Path

    @property
    def client_settings(self) -> dict[str, str]:
        return {"security.protocol": "SASL_SSL", "ssl.ca.location": str(self.ca_file)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/install-chromium.sh installs it)")
    with sync_playwright() as playwright:
        # The sandbox needs user namespaces, which containers and CI machines often lack.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()
