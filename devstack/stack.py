"""Bring the whole local stack up, report on it, and take it down."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from fraudstream.devstack import health, process, services
from fraudstream.devstack.install import Installed, ensure_installed
from fraudstream.devstack.layout import (
    GCS_PORT,
    HOST,
    MAIL_API_PORT,
    POSTGRES_DATABASE,
    POSTGRES_PORT,
    POSTGRES_USER,
    REGISTRY_MANAGEMENT_PORT,
    REGISTRY_PORT,
    SMTP_PORT,
    Topology,
    cache_dir,
    run_dir,
)

HEALTH_TIMEOUT_SECONDS = 180.0
# The principals a SASL stack makes passwords for: fraudstream's services and Kafka UI.
SERVICE_PRINCIPALS = (
    "producer",
    "fraud-consumer",
    "non-fraud-consumer",
    "cases-consumer",
    "confirmation-service",
    "kafka-ui",
)

Log = Callable[[str], None]


class StackError(RuntimeError):
    """The stack cannot be brought into the requested state."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None


def service_names(topology: Topology) -> list[str]:
    kafka = [f"kafka-{node}" for node in topology.node_ids]
    return [*kafka, "schema-registry", "gcs-emulator", "mail-catcher", "postgresql"]


def ports(topology: Topology) -> list[int]:
    kafka = [topology.broker_port(n) for n in topology.node_ids]
    kafka += [topology.controller_port(n) for n in topology.node_ids]
    return [
        *kafka, REGISTRY_PORT, REGISTRY_MANAGEMENT_PORT, GCS_PORT, SMTP_PORT, MAIL_API_PORT,
        POSTGRES_PORT,
    ]  # fmt: skip


def current_topology() -> Topology | None:
    """The topology of the stack last started here, if its state file exists."""
    try:
        saved = json.loads((run_dir() / "stack.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Topology(brokers=int(saved["brokers"]), sasl=bool(saved.get("sasl", False)))


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
                f"{' and SASL' if running.sasl else ''};"
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
        return _wait_healthy(topology, log)
    except health.StackNotHealthyError:
        down(log=lambda _message: None, keep_logs=True)
        raise


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


def token_key() -> str:
    """This stack's key for signing confirmation links, made when first asked for.

    It lives in the stack's run folder, readable by its owner only, and goes
    with the stack: a fresh stack has a fresh key (and a fresh, empty lake).
    """
    return _stack_secret("confirmation-token-key")


def _stack_secret(name: str) -> str:
    path = run_dir() / name
    if not path.is_file():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text()


def kafka_admin_login() -> dict[str, str]:
    """The SASL client settings of the stack's Kafka super user (a SASL stack only)."""
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": services.KAFKA_ADMIN,
        "sasl.password": _stack_secret("kafka-admin-password"),
    }


def kafka_environment(topology: Topology) -> dict[str, str]:
    """What points fraudstream at a SASL stack: the super user's login, and the file
    of the services' passwords that `fraudstream setup` makes their principals from."""
    if not topology.sasl:
        return {}
    principals = run_dir() / "kafka-principals"
    if not principals.is_file():
        principals.touch(mode=0o600)
        principals.write_text(
            "".join(f"{name}={secrets.token_urlsafe(24)}\n" for name in SERVICE_PRINCIPALS)
        )
    login = kafka_admin_login()
    return {
        "KAFKA_USERNAME": login["sasl.username"],
        "KAFKA_PASSWORD": login["sasl.password"],
        "KAFKA_PRINCIPALS_FILE": str(principals),
    }


def admin_login(topology: Topology) -> dict[str, str] | None:
    """The SASL settings a client of this stack's Kafka needs, if any."""
    return kafka_admin_login() if topology.sasl else None


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
    saved = {"brokers": topology.brokers, "sasl": topology.sasl}
    (root / "stack.json").write_text(json.dumps(saved))
    log(f"started {len(service_names(topology))} processes; logs in {root / 'logs'}")


def start_postgres(installed: Installed, data_dir: Path) -> None:
    """A new PostgreSQL cluster in ``data_dir``, its one login this stack's secret.

    Root runs PostgreSQL as the ``postgres`` user, who may not enter the checkout
    (root's home is 0700, and so is any ``mktemp -d`` folder): the cluster then
    lives in a folder of the postgres user's own under the system's temporary
    folder, which ``data_dir`` links to, and its programs start from ``/``.
    """
    data_dir = _reachable_by_database_owner(data_dir)
    password_file = data_dir.parent / "postgres-initdb-password"
    password_file.write_text(database_password())
    try:
        if services.as_database_owner():  # root: the files are the postgres user's
            shutil.chown(data_dir, "postgres", "postgres")
            shutil.chown(password_file, "postgres", "postgres")
        password_file.chmod(0o600)
        command = services.postgres_init_command(installed, data_dir, password_file)
        result = subprocess.run(command, check=False, capture_output=True, text=True, cwd="/")
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")
    process.start(services.postgresql(installed, data_dir), run_dir())


def _reachable_by_database_owner(data_dir: Path) -> Path:
    """``data_dir``, made; as root, a link to a folder the postgres user can reach."""
    if not services.as_database_owner():
        data_dir.mkdir(mode=0o700)
        return data_dir
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    home = Path(tempfile.gettempdir()) / f"fraudstream-devstack-postgres-{digest}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o700)
    shutil.chown(home, "postgres", "postgres")
    (home / "data").mkdir(mode=0o700)
    data_dir.symlink_to(home / "data", target_is_directory=True)
    return home / "data"


def database_password() -> str:
    return _stack_secret("postgres-password")


def database_url(database: str = POSTGRES_DATABASE) -> str:
    """The SQLAlchemy URL of ``database`` on this stack's PostgreSQL."""
    return (
        f"postgresql+psycopg://{POSTGRES_USER}:{database_password()}@{HOST}:{POSTGRES_PORT}/"
        f"{database}"
    )


def create_database(name: str) -> None:
    """Make database ``name`` on this stack's PostgreSQL unless it exists."""
    with psycopg.connect(_libpq_url("postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with psycopg.connect(_libpq_url("postgres"), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _libpq_url(database: str) -> str:
    return database_url(database).replace("postgresql+psycopg://", "postgresql://")


def start_kafka(
    topology: Topology, installed: Installed, root: Path, admin_password: str | None = None
) -> None:
    """Format and start the nodes of a new cluster in ``root`` (stop each with
    ``process.stop(root, f"kafka-{node_id}")``)."""
    cluster_id = services.new_cluster_id()
    for node_id in topology.node_ids:
        config = _write_kafka_config(topology, node_id, root, admin_password)
        format_storage(installed, cluster_id, config, admin_password)
        process.start(services.kafka_node(installed, node_id, config), root)


def _write_kafka_config(
    topology: Topology, node_id: int, root: Path, admin_password: str | None
) -> Path:
    node_dir = root / f"kafka-{node_id}"
    node_dir.mkdir()
    config = node_dir / "server.properties"
    config.touch(mode=0o600)  # it holds the administrator's password on a SASL stack
    config.write_text(
        services.kafka_node_properties(topology, node_id, node_dir / "data", admin_password)
    )
    return config


def format_storage(
    installed: Installed, cluster_id: str, config: Path, admin_password: str | None = None
) -> None:
    command = services.kafka_format_command(installed, cluster_id, config, admin_password)
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def health_checks(topology: Topology) -> dict[str, Callable[[], bool]]:
    """Each part's check, with the logins this stack's Kafka and PostgreSQL take."""
    return health.checks(topology, admin_login(topology), _libpq_url("postgres"))


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
