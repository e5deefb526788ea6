"""Bring the whole local stack up, report on it, and take it down."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fraudstream.devstack import dashboard, health, process, services, warm_up
from fraudstream.devstack.certificates import ensure_certificates
from fraudstream.devstack.install import Installed, ensure_installed
from fraudstream.devstack.layout import (
    GCS_PORT,
    HOST,
    MAIL_API_PORT,
    POSTGRES_DATABASE,
    POSTGRES_PORT,
    PROMETHEUS_PORT,
    REGISTRY_MANAGEMENT_PORT,
    REGISTRY_PORT,
    SMTP_PORT,
    Topology,
    cache_dir,
    run_dir,
)
from fraudstream.devstack.logins import admin_login, kafka_admin_login
from fraudstream.devstack.postgres import create_database, libpq_url, start_postgres

HEALTH_TIMEOUT_SECONDS = 180.0
Log = Callable[[str], None]


class StackError(RuntimeError):
    """The stack cannot be brought into the requested state."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None


def service_names(topology: Topology) -> list[str]:
    kafka = [f"kafka-{node}" for node in topology.node_ids]
    return [*kafka, "schema-registry", "gcs-emulator", "mail-catcher", "postgresql", "prometheus"]


def ports(topology: Topology) -> list[int]:
    kafka = [topology.broker_port(n) for n in topology.node_ids]
    kafka += [topology.controller_port(n) for n in topology.node_ids]
    return [
        *kafka,
        REGISTRY_PORT,
        REGISTRY_MANAGEMENT_PORT,
        GCS_PORT,
        SMTP_PORT,
        MAIL_API_PORT,
        POSTGRES_PORT,
        PROMETHEUS_PORT,
    ]


def current_topology() -> Topology | None:
    """The topology of the stack last started here, if its state file exists."""
    try:
        saved = json.loads((run_dir() / "stack.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Topology(
        brokers=int(saved["brokers"]),
        sasl=bool(saved.get("sasl", False)),
        tls=bool(saved.get("tls", False)),
    )


def running_topology() -> Topology | None:
    """The topology of the stack if every one of its processes is running, else None."""
    topology = current_topology()
    return topology if topology is not None and _all_running(topology) else None


def status(topology: Topology) -> list[ServiceStatus]:
    return [
        ServiceStatus(name, process.running_pid(run_dir(), name))
        for name in service_names(topology)
    ]


def up(topology: Topology, log: Log = print) -> dict[str, float]:
    """Start the stack unless it already runs; return seconds until each part was healthy."""
    running = current_topology()
    if running is not None and _all_running(running):
        if running != topology:
            raise StackError(
                f"the stack already runs with {running.brokers} broker(s)"
                f"{' and SASL' if running.sasl else ''}{' and TLS' if running.tls else ''};"
                " run 'python -m fraudstream.devstack down' first"
            )
        log("the stack is already running")
        return _wait_healthy(topology, log)
    if running is not None:
        log("a previous stack is partly running: stopping it first")
        down(log=lambda _message: None)
    _require_free_ports(topology)
    log("installing what is missing (first run only) ...")
    installed = ensure_installed(cache_dir())
    _start_fresh(topology, installed, log)
    try:
        took = _wait_healthy(topology, log)
    except health.StackNotHealthyError:
        down(log=lambda _message: None, keep_logs=True)
        raise
    warmed = time.monotonic()
    health.make_internal_topics(topology, admin_login(topology))
    log(f"{'kafka':<16} internal topics made in {time.monotonic() - warmed:5.1f} s")
    loaded = time.monotonic()
    warm_up.load_brokers(topology, admin_login(topology))
    log(
        f"{'kafka':<16} warmed up in {time.monotonic() - loaded:5.1f} s"
        f" ({warm_up.RECORDS:,} records, so a first run is not slower than the next)"
    )
    return took


def down(log: Log = print, keep_logs: bool = True) -> list[str]:
    """Stop every process this stack started (by pid file) and discard its data."""
    topology = current_topology() or Topology(brokers=3)
    stopped = [name for name in service_names(topology) if process.stop(run_dir(), name)]
    for name in stopped:
        log(f"stopped {name}")
    _discard_data(keep_logs)
    return stopped


def _all_running(topology: Topology) -> bool:
    return all(entry.pid is not None for entry in status(topology))


def _require_free_ports(topology: Topology) -> None:
    taken = [port for port in ports(topology) if _port_in_use(port)]
    if taken:
        raise StackError(
            f"port(s) {', '.join(map(str, taken))} on {HOST} are in use by another program; "
            "stop it or the other stack first"
        )


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def _start_fresh(topology: Topology, installed: Installed, log: Log) -> None:
    root = run_dir()
    _discard_data(keep_logs=False)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    password = kafka_admin_login()["sasl.password"] if topology.sasl else None
    start_kafka(topology, installed, root, password)
    process.start(services.schema_registry(installed), root)
    (root / "gcs").mkdir()
    process.start(services.gcs_emulator(installed, root / "gcs"), root)
    (root / "mail").mkdir()
    process.start(services.mail_catcher(installed, root / "mail"), root)
    start_postgres(installed, root / "postgres")
    dashboard.write_configuration(root / "prometheus")
    process.start(services.prometheus(installed, root / "prometheus"), root)
    saved = {"brokers": topology.brokers, "sasl": topology.sasl, "tls": topology.tls}
    (root / "stack.json").write_text(json.dumps(saved))
    log(f"started {len(service_names(topology))} processes; logs in {root / 'logs'}")


def start_kafka(
    topology: Topology, installed: Installed, root: Path, admin_password: str | None = None
) -> None:
    """Format and start the nodes of a new cluster in ``root`` (stop each with
    ``process.stop(root, f"kafka-{node_id}")``)."""
    cluster_id = services.new_cluster_id()
    certificates = ensure_certificates(root / "tls") if topology.tls else None
    for node_id in topology.node_ids:
        config = _write_kafka_config(topology, node_id, root, admin_password, certificates)
        format_storage(installed, cluster_id, config, admin_password)
        process.start(services.kafka_node(installed, node_id, config), root)


def _write_kafka_config(
    topology: Topology,
    node_id: int,
    root: Path,
    admin_password: str | None,
    certificates: Path | None,
) -> Path:
    node_dir = root / f"kafka-{node_id}"
    node_dir.mkdir()
    config = node_dir / "server.properties"
    config.touch(mode=0o600)  # it holds the administrator's password on a SASL stack
    config.write_text(
        services.kafka_node_properties(
            topology, node_id, node_dir / "data", admin_password, certificates
        )
    )
    return config


def format_storage(
    installed: Installed, cluster_id: str, config: Path, admin_password: str | None = None
) -> None:
    """Format a node's storage. The tool's arguments, the password among them, wait in
    a file only this user reads while it runs, then go."""
    arguments = config.with_name("format.args")
    arguments.unlink(missing_ok=True)
    arguments.touch(mode=0o600)
    try:
        arguments.write_text(services.kafka_format_arguments(cluster_id, config, admin_password))
        command = services.kafka_format_command(installed, arguments)
        result = subprocess.run(command, check=False, capture_output=True, text=True)
    finally:
        arguments.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def health_checks(topology: Topology) -> dict[str, Callable[[], bool]]:
    """Each part's check, with the logins this stack's Kafka and PostgreSQL take."""
    return health.checks(topology, admin_login(topology), libpq_url("postgres"))


def _wait_healthy(topology: Topology, log: Log) -> dict[str, float]:
    started = time.monotonic()
    took = {}
    for name, check in health_checks(topology).items():
        hint = f"See the logs in {run_dir() / 'logs'}."
        health.wait_until_healthy(name, check, HEALTH_TIMEOUT_SECONDS, hint)
        took[name] = time.monotonic() - started
        log(f"{name:<16} healthy after {took[name]:5.1f} s")
    create_database(POSTGRES_DATABASE)
    return took


def _discard_data(keep_logs: bool) -> None:
    root = run_dir()
    if not root.exists():
        return
    for entry in root.iterdir():
        if keep_logs and entry.name == "logs":
            continue
        if entry.is_symlink():  # PostgreSQL's data, kept where root's postgres user reaches it
            shutil.rmtree(entry.resolve().parent, ignore_errors=True)
            entry.unlink()
        elif entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()


def stop_node(node_id: int) -> bool:
    """Stop one Kafka node of the running stack (to test broker loss)."""
    return process.stop(run_dir(), f"kafka-{node_id}")


def start_node(node_id: int, log: Log = print) -> float:
    """Start a stopped Kafka node again with its data; return seconds until the cluster is whole."""
    topology = current_topology()
    if topology is None or node_id not in topology.node_ids:
        raise StackError(f"there is no kafka-{node_id} in the stack")
    if process.running_pid(run_dir(), f"kafka-{node_id}") is None:
        installed = ensure_installed(cache_dir())
        config = run_dir() / f"kafka-{node_id}" / "server.properties"
        process.start(services.kafka_node(installed, node_id, config), run_dir())
    took = health.wait_until_healthy(
        "kafka",
        lambda: health.kafka_brokers_listed(topology, admin_login(topology)),
        HEALTH_TIMEOUT_SECONDS,
    )
    log(f"kafka-{node_id} is back; every broker listed after {took:.1f} s")
    return took
