"""The pipeline VM's startup script, executed: it installs `make dist`'s archive,
writes the settings and secrets, writes the units; the units' commands then move
rows through the local stack. See vm_rehearsal for what is served locally."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select

from bench.consumers import assigned_members
from fraudstream.kafka import client_config
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from fraudstream.storage import case_table, lake
from fraudstream.topology import consumer_group_topics, kafka_principals
from tests.integration.conftest import MailCatcher, Stack, TlsKafka, free_port
from tests.integration.pipeline import REPO_ROOT, lake_records, mails_to, wait_until
from tests.integration.vm_rehearsal import MetadataServer, RehearsedVM, Unit

pytestmark = [pytest.mark.cloud, pytest.mark.isolated]

ROWS = 3000
SECRET = secrets.token_urlsafe(32)  # the confirmation token key
NOTE_KEY = secrets.token_urlsafe(32)  # the consumers' note key
SERVICES = [
    "produce",
    "consume-fraud",
    "consume-cases",
    "consume-non-fraud",
    "confirmation-service",
    "watch-lag",
]
# Each service's Kafka principal; the VM's `setup` logs in as the administrator and makes them.
PRINCIPALS = {
    "produce": "producer",
    "consume-fraud": "fraud-consumer",
    "consume-cases": "cases-consumer",
    "consume-non-fraud": "non-fraud-consumer",
    "confirmation-service": "confirmation-service",
    "watch-lag": "lag-watcher",
}
# The lag watcher reads offsets, no record: it has no registry login.
NO_REGISTRY = {"watch-lag"}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make dist`'s archive, of the tree as committed."""
    archive = tmp_path_factory.mktemp("dist") / "fraudstream.tar.gz"
    subprocess.run(
        ["bash", "scripts/dist.sh", str(archive)],
        cwd=REPO_ROOT,
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    return archive


def _settings_lines(settings: Settings, kafka: str, port: int, tls_ca_file: Path) -> str:
    """What Terraform's `fraudstream-settings` attribute holds, for the local stack."""
    keys = {"confirmation_token_key", "consumer_note_key", "cases_database_url"}  # secrets
    values = settings.model_dump(exclude_none=True, exclude=keys)
    values.update(kafka_bootstrap_servers=kafka, topic_replication_factor=1)
    values.update(tls_ca_file=tls_ca_file)  # where the boot writes the authority's certificate
    values.update(confirmation_host="127.0.0.1", confirmation_port=port)
    values["confirmation_base_url"] = f"http://127.0.0.1:{port}"
    values["storage_emulator_host"] = os.environ["STORAGE_EMULATOR_HOST"]
    return "\n".join(f"{name.upper()}={value}" for name, value in values.items())


@pytest.fixture
def passwords(tls_kafka: TlsKafka, tmp_path: Path) -> dict[str, str]:
    """Secret Manager, as the VM's gcloud sees it."""
    logins = {f"kafka-{name}": f"{name}-password" for name in kafka_principals(Settings())}
    cases = f"sqlite:///{tmp_path / 'cases.sqlite3'}"
    registry = {
        f"registry-{user}-login": f"{user}:{secrets.token_urlsafe(32)}"
        for user in ("setup", "services")
    }
    return {
        "token-key": SECRET,
        "note-key": NOTE_KEY,
        "kafka-admin": tls_kafka.admin_password,
        "cases-url": cases,
        **logins,
        **registry,
    }


@pytest.fixture
def cloud(
    bare_settings: Settings, tls_kafka: TlsKafka, release: Path, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """What Terraform makes before a VM boots: the buckets, the archive in the artifacts
    bucket, the dataset; and the VM's metadata. Topics, schemas and Kafka principals are
    the VM's to make, on a Kafka node that takes SASL logins over TLS only, as the cloud's."""
    client = lake.storage_client(bare_settings.gcp_project)
    artifacts = f"{bare_settings.lake_bucket}-artifacts"
    for bucket in (bare_settings.dataset_bucket, bare_settings.lake_bucket, artifacts):
        client.create_bucket(bucket)
    client.bucket(artifacts).blob("releases/fraudstream.tar.gz").upload_from_filename(release)
    # The authorities' certificates: the node's, and (unused: the case table is SQLite
    # here) the database's.
    for name in ("internal", "database"):
        client.bucket(artifacts).blob(f"tls/{name}-ca.pem").upload_from_filename(tls_kafka.ca_file)
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS, seed=1)
    client.bucket(bare_settings.dataset_bucket).blob("paysim/log.csv").upload_from_filename(source)
    yield {
        "ops-agent": "false",
        "fraudstream-package": f"gs://{artifacts}/releases/fraudstream.tar.gz",
        "fraudstream-source": f"gs://{bare_settings.dataset_bucket}/paysim/log.csv",
        "fraudstream-services": " ".join(["setup", *SERVICES]),
        "fraudstream-shard": "0/1",
        "fraudstream-settings": _settings_lines(
            bare_settings,
            tls_kafka.bootstrap_servers,
            free_port(),
            tmp_path / "vm/root/etc/fraudstream-tls/tls-ca.pem",
        ),
        "fraudstream-tls-ca": f"gs://{artifacts}/tls/internal-ca.pem",
        "fraudstream-database-ca": f"gs://{artifacts}/tls/database-ca.pem",
        "fraudstream-secrets": " ".join(
            (
                "CONFIRMATION_TOKEN_KEY=token-key",
                "CONSUMER_NOTE_KEY=note-key",
                "CASES_DATABASE_URL=cases-url",
            )
        ),
        "fraudstream-kafka-logins": " ".join(
            f"{service}={principal}=kafka-{principal}"
            for service, principal in {"setup": "admin", **PRINCIPALS}.items()
        ),
        "fraudstream-registry-logins": " ".join(
            f"{service}=registry-{'setup' if service == 'setup' else 'services'}-login"
            for service in ["setup", *SERVICES]
            if service not in NO_REGISTRY
        ),
        "fraudstream-kafka-principals": " ".join(
            f"{name}=kafka-{name}" for name in kafka_principals(Settings())
        ),
    }


def _boot(
    vm: RehearsedVM, server: MetadataServer, stack: Stack, traced: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return vm.boot(
        "pipeline",
        server.url,
        stack.storage_emulator_host,
        traced,
        BOOT_FIRST_WAIT="1",
        BOOT_ATTEMPTS="4",
    )


def _assert_no_secret_on_a_command_line(
    vm: RehearsedVM, traced: Path, passwords: dict[str, str]
) -> None:
    """Any user of the VM can read a command line (ps, /proc/PID/cmdline)."""
    command_lines = vm.command_lines(traced)
    assert any("gcloud" in line for line in command_lines), "the trace missed the boot"
    for name, value in passwords.items():
        secret = value.rpartition(":")[2]  # a login's password, a key, a URL's path
        shown = [line for line in command_lines if secret in line]
        assert not shown, f"secret {name} on a command line: {shown[0][:300]}"


def _assert_units_as_written(vm: RehearsedVM, units: dict[str, Unit]) -> None:
    """Each service a unit, with its own login; setup alone holds the principals."""
    assert list(units) == sorted(["setup", *SERVICES])
    assert units["setup"].type == "oneshot"
    assert units["setup"].command[1:] == ["setup", "--no-buckets", "--no-database"]
    assert units["produce"].command[-2:] == ["--shard", "0/1"]
    # The case consumer migrates its table before each start.
    assert [c[1:] for c in units["consume-cases"].before] == [["migrate"]]
    for name in SERVICES:
        assert "After=network-online.target fraudstream-setup.service" in units[name].text
        # Its own Kafka login and its registry login, in a file only its unit reads.
        assert units[name].environment["KAFKA_USERNAME"] == PRINCIPALS[name]
        registry = units[name].environment.get("SCHEMA_REGISTRY_LOGIN", "")
        assert registry.startswith("services:") if name not in NO_REGISTRY else registry == ""
    assert units["setup"].environment["KAFKA_USERNAME"] == "admin"
    assert units["setup"].environment["SCHEMA_REGISTRY_LOGIN"].startswith("setup:")
    # The passwords setup makes principals from: root's file, handed to setup alone.
    assert "LoadCredential=kafka-principals:" in units["setup"].text
    principals = Path(units["setup"].environment["KAFKA_PRINCIPALS_FILE"])
    assert principals.read_text().count("-password\n") == len(kafka_principals(Settings()))
    assert principals.stat().st_mode & 0o777 == 0o600
    assert f"CONFIRMATION_TOKEN_KEY={SECRET}" in (vm.root / "etc/fraudstream/env").read_text()
    # The authorities' certificates, which every service's user reads.
    for name in ("tls-ca.pem", "database-ca.pem"):
        assert (vm.root / "etc/fraudstream-tls" / name).stat().st_mode & 0o777 == 0o644
    assert "systemctl daemon-reload" in vm.calls
    for name in units:
        assert f"systemctl enable fraudstream-{name}" in vm.calls
        assert f"systemctl restart --no-block fraudstream-{name}" in vm.calls
    assert "apt-get -o DPkg::Lock::Timeout=300 install -y -q python3-venv" in vm.calls


def _run_to_completion(unit: Unit, base: dict[str, str], log: Path) -> None:
    process = unit.start(base, log)
    assert process.wait(timeout=300) == 0, log.read_text()


def test_a_pipeline_vm_boots_retries_what_fails_and_its_units_move_every_row(
    stack: Stack,
    bare_settings: Settings,
    cloud: dict[str, str],
    passwords: dict[str, str],
    tmp_path: Path,
) -> None:
    vm = RehearsedVM(tmp_path / "vm", passwords, {"storage": 2, "secrets": 1})
    traced = tmp_path / "boot.strace" if shutil.which("strace") else None
    with MetadataServer(cloud, failures=2) as server:
        booted = _boot(vm, server, stack, traced)
        assert booted.returncode == 0, booted.stderr
        if traced is not None:  # `make nginx` installs strace
            _assert_no_secret_on_a_command_line(vm, traced, passwords)
        # The lagging grants and the metadata server's hiccups were waited out.
        assert "boot: read metadata" in booted.stderr
        assert "boot: download gs://" in booted.stderr
        assert "boot: read secret token-key failed (attempt 1 of 4)" in booted.stderr

        units = vm.units()
        _assert_units_as_written(vm, units)

        # A reboot converges: same archive, same install, same files.
        before = {path: path.read_bytes() for path in _written(vm)}
        releases = sorted((vm.root / "opt/fraudstream/releases").iterdir())
        rebooted = _boot(vm, server, stack)
        assert rebooted.returncode == 0, rebooted.stderr
        assert {path: path.read_bytes() for path in _written(vm)} == before
        assert sorted((vm.root / "opt/fraudstream/releases").iterdir()) == releases
        assert "pip" not in rebooted.stderr

    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    _run_to_completion(units["setup"], base, tmp_path / "setup.log")
    _run_to_completion(units["produce"], base, tmp_path / "produce.log")
    running = {name: units[name].start(base, tmp_path / f"{name}.log") for name in SERVICES[1:]}
    try:
        wait_until(lambda: len(_lake_rows(bare_settings)) == ROWS, "the lake")
        flagged = {r["transaction_id"] for r in lake_records(bare_settings, "fraud_confirmation")}
        wait_until(lambda: _case_ids(passwords["cases-url"]) == flagged, "the case table")
        port = units["confirmation-service"].environment["CONFIRMATION_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
        # Each unit serves its metrics where the Ops Agent scrapes them.
        non_fraud = len(_lake_rows(bare_settings)) - len(flagged)
        wait_until(lambda: _consumed(units["consume-non-fraud"]) == non_fraud, "its metrics")
        for name in running:
            assert "fraudstream_" in _metrics_text(units[name])
        # The lag watcher reads every group's offsets as its own principal, over TLS.
        groups = set(consumer_group_topics(bare_settings))
        wait_until(lambda: _groups_watched(units["watch-lag"]) == groups, "the lag's figures")
    finally:
        for process in running.values():
            process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(timeout=120) for name, process in running.items()}
    # Consumers finish their batch and exit 0; systemd also counts an end by SIGTERM
    # as a clean stop, which is how the confirmation service's server ends.
    assert codes["consume-fraud"] == codes["consume-non-fraud"] == codes["consume-cases"] == 0
    assert codes["watch-lag"] == 0
    assert codes["confirmation-service"] in (0, -signal.SIGTERM)
    rows = _lake_rows(bare_settings)
    assert len({(row["step"], row["nameOrig"], row["amount"]) for row in rows}) == ROWS
    assert sum(row["isFraud"] for row in rows) > 0
    assert _case_ids(passwords["cases-url"]) == flagged


def _metrics_text(unit: Unit) -> str:
    port = unit.environment["METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def _groups_watched(unit: Unit) -> set[str]:
    """The consumer groups whose whole lag the unit's metrics give."""
    return {
        sample.labels["group"]
        for family in text_string_to_metric_families(_metrics_text(unit))
        for sample in family.samples
        if sample.name == "fraudstream_group_lag"
    }


def _consumed(unit: Unit) -> float:
    """Records the unit's consumer took, by its metrics."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(_metrics_text(unit))
        for sample in family.samples
        if sample.name == "fraudstream_consumer_records_total"
    )


def _case_ids(url: str) -> set[str]:
    engine = case_table.cases_engine(url)
    try:
        with engine.connect() as connection:
            return set(
                connection.execute(select(case_table.fraud_cases.c.transaction_id)).scalars()
            )
    finally:
        engine.dispose()


def _lake_rows(settings: Settings) -> list[dict[str, Any]]:
    """The non-fraud rows and the fraud cases the consumers wrote."""
    return lake_records(settings, "transaction") + lake_records(settings, "fraud_confirmation")


def _written(vm: RehearsedVM) -> list[Path]:
    return [vm.root / "etc/fraudstream/env", *sorted((vm.root / "etc/systemd/system").iterdir())]


# A secret that cannot be read, or is empty: what the VM holds, how the boot ends.
SECRET_FAULTS = {
    "refused": (({"token-key": SECRET}, {"secrets": 99}), "read secret token-key, 3 attempts"),
    "empty": (({"token-key": ""}, {}), "secret token-key is empty"),
}


@pytest.mark.parametrize("fault", sorted(SECRET_FAULTS))
def test_a_secret_that_cannot_be_read_stops_the_boot_and_writes_no_key(
    stack: Stack, cloud: dict[str, str], passwords: dict[str, str], tmp_path: Path, fault: str
) -> None:
    (secrets, failures), says = SECRET_FAULTS[fault]
    vm = RehearsedVM(tmp_path / "vm", {**passwords, **secrets}, failures)
    with MetadataServer(cloud) as server:
        booted = vm.boot(
            "pipeline",
            server.url,
            stack.storage_emulator_host,
            BOOT_FIRST_WAIT="0",
            BOOT_ATTEMPTS="3",
        )
    assert booted.returncode != 0
    assert f"boot failed: {says}" in booted.stderr
    assert not (vm.root / "etc/fraudstream/env").exists()
    assert vm.units() == {}


def _vm_metadata(cloud: dict[str, str], services: list[str], secrets: str) -> dict[str, str]:
    """A VM's metadata as Terraform writes it: its services and their logins, and the
    principals' passwords only where it runs `setup`."""
    return {
        **cloud,
        "fraudstream-services": " ".join(services),
        "fraudstream-secrets": secrets,
        "fraudstream-kafka-logins": " ".join(
            f"{service}={principal}=kafka-{principal}"
            for service, principal in {"setup": "admin", **PRINCIPALS}.items()
            if service in services
        ),
        "fraudstream-registry-logins": " ".join(
            f"{service}=registry-{'setup' if service == 'setup' else 'services'}-login"
            for service in services
            if service not in NO_REGISTRY
        ),
        "fraudstream-kafka-principals": (
            cloud["fraudstream-kafka-principals"] if "setup" in services else ""
        ),
    }


def _booted_units(
    directory: Path, metadata: dict[str, str], passwords: dict[str, str], stack: Stack
) -> dict[str, Unit]:
    vm = RehearsedVM(directory, passwords)
    with MetadataServer(metadata) as server:
        booted = _boot(vm, server, stack)
    assert booted.returncode == 0, booted.stderr
    return vm.units()


def _members_holding_partitions(settings: Settings, tls_kafka: TlsKafka) -> int:
    """Members of the notification group with partitions, once it is stable, as the
    administrator sees them."""
    administrator = settings.model_copy(
        update={
            "kafka_bootstrap_servers": tls_kafka.bootstrap_servers,
            "kafka_username": "admin",
            "kafka_password": SecretStr(tls_kafka.admin_password),
            "tls_ca_file": tls_kafka.ca_file,
        }
    )
    admin = AdminClient(client_config(administrator.kafka_connection))
    try:
        return assigned_members(admin, settings.non_fraud_consumer_group)
    except KafkaException:  # NOT_COORDINATOR while a new node makes its offsets topic
        return 0


@dataclass(frozen=True)
class ConsumerVMs:
    """A producer VM's units, and one unit each of two VMs booted from one consumer kind's
    metadata, as Terraform's consumer_count makes them."""

    producer: dict[str, Unit]
    first: Unit
    second: Unit


@pytest.fixture
def consumer_vms(
    stack: Stack, cloud: dict[str, str], passwords: dict[str, str], tmp_path: Path
) -> ConsumerVMs:
    # The settings name the authority's certificate where the VM "vm" writes it: every
    # VM writes its own there in the cloud, and here, on one host, the consumers read it.
    producer = _booted_units(
        tmp_path / "vm", _vm_metadata(cloud, ["setup", "produce"], ""), passwords, stack
    )
    metadata = _vm_metadata(cloud, ["consume-non-fraud"], "CONSUMER_NOTE_KEY=note-key")
    first, second = (
        _booted_units(tmp_path / name, metadata, passwords, stack)["consume-non-fraud"]
        for name in ("member-1", "member-2")
    )
    assert _as_booted(first, tmp_path / "member-1") == _as_booted(second, tmp_path / "member-2")
    second.environment["METRICS_PORT"] = str(free_port())  # two VMs, here on one host
    return ConsumerVMs(producer, first, second)


def _as_booted(unit: Unit, directory: Path) -> str:
    """What a unit runs and with what settings, its VM's scratch root left out."""
    return json.dumps([unit.command, unit.environment]).replace(str(directory), "<vm>")


def test_two_consumer_vms_of_one_kind_share_the_partitions_and_hand_them_over(
    bare_settings: Settings,
    tls_kafka: TlsKafka,
    mail_catcher: MailCatcher,
    consumer_vms: ConsumerVMs,
    tmp_path: Path,
) -> None:
    """Two VMs booted from one kind's metadata, as Terraform's consumer_count makes them,
    share the topic's partitions; when one stops, the other takes its partitions over.
    Every payment is in the lake once, and emailed once."""
    producer, first, second = consumer_vms.producer, consumer_vms.first, consumer_vms.second
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    _run_to_completion(producer["setup"], base, tmp_path / "setup.log")
    members = [unit.start(base, tmp_path / f"{n}.log") for n, unit in enumerate((first, second))]
    try:
        wait_until(
            lambda: _members_holding_partitions(bare_settings, tls_kafka) == 2, "two members"
        )
        _run_to_completion(producer["produce"], base, tmp_path / "produce.log")
        expected = _non_fraud_rows(tmp_path / "log.csv")
        wait_until(lambda: _consumed(first) + _consumed(second) == expected, "the first file")
        assert _consumed(first) > 0 and _consumed(second) > 0, "one member took every partition"
        members[0].send_signal(signal.SIGTERM)
        assert members[0].wait(timeout=120) == 0
        wait_until(lambda: _members_holding_partitions(bare_settings, tls_kafka) == 1, "hand-over")
        # A second file, which the member left reads alone.
        second_file = tmp_path / "log-2.csv"
        write_csv(second_file, rows=ROWS, seed=2)
        dataset = lake.storage_client(bare_settings.gcp_project).bucket(
            bare_settings.dataset_bucket
        )
        dataset.blob("paysim/log-2.csv").upload_from_filename(second_file)
        produce_again = replace(
            producer["produce"],
            command=[
                part.replace("paysim/log.csv", "paysim/log-2.csv")
                for part in producer["produce"].command
            ],
        )
        _run_to_completion(produce_again, base, tmp_path / "produce-2.log")
        total = expected + _non_fraud_rows(second_file)
        wait_until(lambda: len(lake_records(bare_settings, "transaction")) >= total, "the lake")
    finally:
        for process in members:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=120) for process in members]
    assert codes == [0, 0]
    notified = lake_records(bare_settings, "transaction")
    emailed = lake_records(bare_settings, "email_confirmation")
    assert len({row["transaction_id"] for row in notified}) == len(notified) == total
    assert len({entry["transaction_id"] for entry in emailed}) == len(emailed) == total
    assert len(mails_to(mail_catcher.api_url, bare_settings.customer_email_domain)) == total


def _non_fraud_rows(source: Path) -> int:
    with source.open(newline="") as rows:
        return sum(1 for row in csv.DictReader(rows) if row["isFraud"] == "0")
