"""Health checks: each answers True only when a part of the stack does real work."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

import psycopg
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
