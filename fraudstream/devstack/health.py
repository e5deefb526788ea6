"""Health checks: each answers True only when a part of the stack does real work."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

import psycopg
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from fraudstream.devstack.layout import (
    GCS_PORT,
    HOST,
    MAIL_API_PORT,
    PROMETHEUS_PORT,
    REGISTRY_API_PATH,
    REGISTRY_PORT,
    Topology,
)

HEALTH_TIMEOUT = 60.0  # seconds for Kafka to make its internal topics


class StackNotHealthyError(RuntimeError):
    """A part of the stack did not become healthy in time."""


def kafka_brokers_up(topology: Topology, login: Mapping[str, str] | None = None) -> set[int]:
    """The node ids the cluster metadata lists (empty while no broker answers);
    ``login``: the SASL client settings of a cluster that needs them."""
    admin = AdminClient(
        {"bootstrap.servers": topology.bootstrap_servers, "log_level": 0, **(login or {})}
    )
    try:
        return set(admin.list_topics(timeout=3).brokers)
    except Exception:  # any failure here only means "not yet"
        return set()


def kafka_brokers_listed(topology: Topology, login: Mapping[str, str] | None = None) -> bool:
    """True when the cluster metadata lists every broker of the topology."""
    return kafka_brokers_up(topology, login) == set(topology.node_ids)


WARM_UP = "fraudstream-devstack-warm-up"  # the transactional id and group that make them


def make_internal_topics(topology: Topology, login: Mapping[str, str] | None = None) -> None:
    """Have Kafka make its transaction and group coordinators' topics (50 partitions each,
    replicated): a fresh cluster makes them on first use, so else the first transactional
    producer (`fraudstream produce`, the demo) or the first consumer group waits for them."""
    config: dict[str, str | int | float | bool] = {
        "bootstrap.servers": topology.bootstrap_servers,
        "log_level": 0,  # "coordinator load in progress: retrying" is the wait itself
        **(login or {}),
    }
    producer = Producer({**config, "transactional.id": WARM_UP})
    producer.init_transactions(HEALTH_TIMEOUT)
    producer.begin_transaction()
    producer.commit_transaction(HEALTH_TIMEOUT)  # an empty one: the coordinator answers
    producer.flush(HEALTH_TIMEOUT)
    del producer  # closed here, not as the interpreter ends (librdkafka may crash then)
    # A consumer's own offset look-up finds the group coordinator and waits for it. (The
    # admin client's ListConsumerGroupOffsets crashes librdkafka 2.x when the coordinator
    # answers NOT_COORDINATOR, as a fresh cluster's does: confluent-kafka-python #1982.)
    consumer = Consumer({**config, "group.id": WARM_UP, "enable.auto.commit": False})
    try:
        wait_until_healthy("the group coordinator", lambda: _answers(consumer), HEALTH_TIMEOUT)
    finally:
        consumer.close()


def _answers(consumer: Consumer) -> bool:
    """True once the group's coordinator answers an offset look-up (NOT_COORDINATOR and
    COORDINATOR_LOAD_IN_PROGRESS while its topic is made and loaded)."""
    try:
        consumer.committed([TopicPartition(WARM_UP, 0)], timeout=5)
    except KafkaException:
        return False
    return True


def registry_answers() -> bool:
    return _http_ok(f"http://{HOST}:{REGISTRY_PORT}{REGISTRY_API_PATH}/subjects")


def gcs_answers() -> bool:
    return _http_ok(f"http://{HOST}:{GCS_PORT}/storage/v1/b?project=probe")


def mail_catcher_answers(api_url: str = f"http://{HOST}:{MAIL_API_PORT}") -> bool:
    return _http_ok(f"{api_url}/healthz")  # cheap, however many emails it holds


def prometheus_ready() -> bool:
    return _http_ok(f"http://{HOST}:{PROMETHEUS_PORT}/-/ready")


def postgres_answers(url: str) -> bool:
    """True once the server takes a login and runs a query."""
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def checks(
    topology: Topology, login: Mapping[str, str] | None, database_url: str
) -> dict[str, Callable[[], bool]]:
    """One check per part, by the name ``status`` shows."""
    return {
        "kafka": lambda: kafka_brokers_listed(topology, login),
        "schema-registry": registry_answers,
        "gcs-emulator": gcs_answers,
        "mail-catcher": mail_catcher_answers,
        "postgresql": lambda: postgres_answers(database_url),
        "prometheus": prometheus_ready,
    }


def wait_until_healthy(
    name: str, check: Callable[[], bool], timeout: float, hint: str = ""
) -> float:
    """Poll ``check`` until it passes; return the seconds it took or raise StackNotHealthyError."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise StackNotHealthyError(
                f"{name} was not healthy after {timeout:.0f} s. {hint}".strip()
            )
        time.sleep(0.5)
    return time.monotonic() - started


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
