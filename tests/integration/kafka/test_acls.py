"""Kafka with SASL/SCRAM and ACLs, as the cloud runs it: `fraudstream setup` makes one
principal per service, each service does its work as its own, and each is refused
what it must not do.

The cluster is a node of its own, started here with the local stack's SASL
configuration on free ports (`devstack up --sasl` runs the same one); the schema
registry, the GCS emulator and the mail catcher are the local stack's.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from fraudstream.emails.tokens import Answer, Confirmation
from fraudstream.kafka import client_config
from fraudstream.paysim.generator import write_csv
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.reporting.group_lag import group_lags
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.topology import REGISTRY_GROUP, REGISTRY_TOPIC, kafka_principals, topology
from fraudstream.topology import consumer_group_topics as groups_of
from fraudstream.wiring import factory, producing
from fraudstream.wiring.provision import provision
from tests.integration.pipeline import REPO_ROOT, environment, lake_records

pytestmark = [pytest.mark.cloud, pytest.mark.isolated]

REFUSED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {name: secrets.token_urlsafe(18) for name in kafka_principals(Settings())}


@pytest.fixture
def admin(
    bare_settings: Settings, sasl_kafka: tuple[str, str], passwords: dict[str, str], tmp_path: Path
) -> Settings:
    """Settings of the administrator, after `fraudstream setup` on the SASL node."""
    principals = tmp_path / "principals"
    principals.write_text("".join(f"{name}={value}\n" for name, value in passwords.items()))
    settings = bare_settings.model_copy(
        update={
            "kafka_bootstrap_servers": sasl_kafka[0],
            "kafka_username": "admin",
            "kafka_password": sasl_kafka[1],
            "kafka_principals_file": principals,
            "topic_replication_factor": 1,
        }
    )
    settings = Settings.model_validate(settings.model_dump())
    provision(settings, say=lambda _line: None)
    return settings


def _as(admin: Settings, principal: str, passwords: dict[str, str]) -> Settings:
    return Settings.model_validate(
        {**admin.model_dump(), "kafka_username": principal, "kafka_password": passwords[principal]}
    )


def test_each_service_does_its_work_as_its_own_principal(
    admin: Settings, passwords: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=1500, seed=1)
    producer = _as(admin, "producer", passwords)
    run = producing.producer_run(producer, RunOptions(source=str(source)), StopFlag())
    assert run.run(ProgressLog()).complete
    # Again: the checkpoint is read back, as the producer's principal, and nothing is redone.
    again = producing.producer_run(producer, RunOptions(source=str(source)), StopFlag())
    assert again.run(ProgressLog()).this_run.good == 0

    for kind in ("fraud", "non-fraud"):
        consumer = _as(admin, f"{kind}-consumer", passwords)
        factory.batch_consumer(consumer, kind, StopFlag()).run(idle_exit=2)
    cases = lake_records(admin, "fraud_confirmation")
    assert len(cases) + len(lake_records(admin, "transaction")) == 1500

    service = _as(admin, "confirmation-service", passwords)
    book = factory.answer_book(service)
    book.record(Confirmation(cases[0]["transaction_id"], Answer.FRAUD, 4_000_000_000))
    assert book.publish_pending() == 0  # published at once, nothing left pending

    watcher = _as(admin, "lag-watcher", passwords)
    lags = group_lags(AdminClient(client_config(watcher.kafka_connection)), groups_of(admin))
    # Both email consumers read to the end (the last commit marker of each partition left);
    # the case consumer has not run: the fraud topic and the answer are its lag.
    assert lags[admin.non_fraud_consumer_group] <= admin.topic_partitions
    assert lags[admin.fraud_consumer_group] <= admin.topic_partitions
    assert lags[admin.cases_consumer_group] >= len(cases) + 1


# (principal, what it tries, on which topic of the topology or group); every one refused.
FORBIDDEN = [
    ("producer", "read", "fraud"),
    ("producer", "write", "confirmations"),
    ("producer", "create", "new"),
    ("fraud-consumer", "read", "non_fraud"),
    ("fraud-consumer", "write", "fraud"),
    ("fraud-consumer", "join", "non_fraud_consumer_group"),
    ("non-fraud-consumer", "read", "fraud"),
    ("non-fraud-consumer", "write", "confirmations"),
    ("confirmation-service", "read", "confirmations"),
    ("confirmation-service", "write", "fraud"),
    ("schema-registry", "read", "fraud"),
    ("schema-registry", "write", "confirmations"),
    ("schema-registry", "create", "new"),
    ("lag-watcher", "read", "fraud"),
    ("lag-watcher", "join", "fraud_consumer_group"),
    ("lag-watcher", "write", "dead_letters"),
    ("kafka-ui", "read", "fraud"),
    ("kafka-ui", "write", "dead_letters"),
]


@pytest.mark.parametrize(("principal", "action", "target"), FORBIDDEN)
def test_each_principal_is_refused_what_it_must_not_do(
    admin: Settings, passwords: dict[str, str], principal: str, action: str, target: str
) -> None:
    login = _as(admin, principal, passwords).kafka_connection
    assert _refused(login, admin, action, target) in REFUSED


def test_a_wrong_password_and_no_login_get_nothing(admin: Settings) -> None:
    wrong = {**admin.kafka_connection, "sasl.password": "not-the-password"}
    delivered, errors = _try_to_write(wrong, admin.fraud_topic)
    assert not delivered and KafkaError._AUTHENTICATION in errors
    anonymous = {"bootstrap.servers": admin.kafka_bootstrap_servers}
    delivered, errors = _try_to_write(anonymous, admin.fraud_topic)
    assert not delivered and errors & {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}


def test_the_registry_s_principal_keeps_its_schemas_topic_and_elects_its_leader(
    admin: Settings, passwords: dict[str, str]
) -> None:
    """What a registry that stores its schemas in Kafka does, as the cloud's does: create
    its compacted topic and check its configuration, write a schema, read it back from
    the start, and join its leader-election group."""
    login = _as(admin, "schema-registry", passwords).kafka_connection
    client = AdminClient({**login, "log_level": 0})
    created = client.create_topics(
        [NewTopic(REGISTRY_TOPIC, 1, 1, config={"cleanup.policy": "compact"})]
    )[REGISTRY_TOPIC]
    try:
        created.result(15)
    except KafkaException as error:  # a test before this one made it
        assert error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    described = client.describe_configs([ConfigResource("TOPIC", REGISTRY_TOPIC)])
    (configs,) = (future.result(15) for future in described.values())
    assert configs["cleanup.policy"].value == "compact"
    assert _write(login, REGISTRY_TOPIC, key=b"schema") is None  # compacted: keyed records
    assert _read(login, REGISTRY_TOPIC, f"{REGISTRY_GROUP}-leader") is None
    assert _read(login, REGISTRY_TOPIC, f"{REGISTRY_GROUP}-reader-host-8081") is None


def _try_to_write(login: dict[str, str], topic: str) -> tuple[bool, set[int]]:
    """Whether one record was delivered, and the client errors seen meanwhile."""
    errors: set[int] = set()
    delivered: list[bool] = []
    producer = Producer(
        {
            **login,
            "message.timeout.ms": 6000,
            "log_level": 0,
            "error_cb": lambda error: errors.add(error.code()),
        }
    )
    producer.produce(topic, b"x", on_delivery=lambda error, _m: delivered.append(error is None))
    producer.flush(15)
    return delivered == [True], errors


def _refused(login: dict[str, str], admin: Settings, action: str, target: str) -> int | None:
    """The error code Kafka answers ``action`` with, or None if it was allowed."""
    if action == "create":
        return _create(login, f"it-created-{uuid.uuid4().hex[:6]}")
    if action == "join":
        return _read(login, admin.non_fraud_topic, getattr(admin, target))
    topic = getattr(topology(admin), target).name
    if action == "read":
        return _read(login, topic, f"it-reader-{uuid.uuid4().hex[:6]}")
    return _write(login, topic)


def _write(login: dict[str, str], topic: str, key: bytes | None = None) -> int | None:
    errors: list[int] = []
    producer = Producer({**login, "message.timeout.ms": 8000, "log_level": 0})
    producer.produce(
        topic,
        b"x",
        key=key,
        on_delivery=lambda error, _m: errors.append(error.code()) if error else None,
    )
    producer.flush(15)
    return errors[0] if errors else None


def _read(login: dict[str, str], topic: str, group: str) -> int | None:
    consumer = Consumer(
        {**login, "group.id": group, "auto.offset.reset": "earliest", "log_level": 0}
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            return None if error is None else int(error.code())
        return None
    finally:
        consumer.close()


def _create(login: dict[str, str], name: str) -> int | None:
    admin = AdminClient({**login, "log_level": 0})
    future = admin.create_topics([NewTopic(name, 1, 1)])[name]
    try:
        future.result(15)
    except KafkaException as error:
        return int(error.args[0].code())
    return None


@pytest.mark.parametrize(
    ("principal", "command"),
    [("fraud-consumer", ["consume", "fraud", "--idle-exit", "1"]), ("lag-watcher", ["watch-lag"])],
)
def test_a_service_with_a_wrong_password_stops_with_one_line(
    admin: Settings, principal: str, command: list[str]
) -> None:
    env = environment(admin, kafka_username=principal, kafka_password="not-it")
    finished = subprocess.run(
        [sys.executable, "-m", "fraudstream", *command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.startswith("fraudstream: ")]
    assert len(lines) == 1, finished.stderr
    assert f"KAFKA_PASSWORD the password of {principal}" in lines[0]
