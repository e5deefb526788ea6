"""Kafka over TLS, as the cloud runs it: every listener SASL_SSL, the brokers showing a
certificate of the deployment's own authority, each client checking it (and the broker's
name) against TLS_CA_FILE.

The node is one of its own, started here with the local stack's TLS configuration on
free ports (`devstack up --tls --sasl` runs the same one); the schema registry, the GCS
emulator and the mail catcher are the local stack's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer

from fraudstream.devstack.certificates import CA_FILE, ensure_certificates
from fraudstream.paysim.generator import write_csv
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.topology import topology
from fraudstream.wiring import factory
from fraudstream.wiring.provision import provision
from tests.integration.conftest import MailCatcher, TlsKafka
from tests.integration.pipeline import lake_records, mails_to, produce

pytestmark = [pytest.mark.cloud, pytest.mark.isolated]

ROWS = 3000


@pytest.fixture
def over_tls(bare_settings: Settings, tls_kafka: TlsKafka) -> Settings:
    """The administrator's settings on the TLS node, after `fraudstream setup` there."""
    settings = Settings.model_validate(
        {
            **bare_settings.model_dump(),
            "kafka_bootstrap_servers": tls_kafka.bootstrap_servers,
            "kafka_username": "admin",
            "kafka_password": tls_kafka.admin_password,
            "tls_ca_file": tls_kafka.ca_file,
            "topic_replication_factor": 1,
        }
    )
    provision(settings, say=lambda _line: None)
    return settings


def test_the_pipeline_runs_over_tls(
    over_tls: Settings, mail_catcher: MailCatcher, tmp_path: Path
) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS, seed=5)
    assert over_tls.kafka_connection["security.protocol"] == "SASL_SSL"

    produce(over_tls, source)
    for kind in ("fraud", "non-fraud"):  # the helpers that wait for a group read in plaintext
        factory.batch_consumer(over_tls, kind, StopFlag()).run(idle_exit=2)

    cases, notified = (lake_records(over_tls, f) for f in ("fraud_confirmation", "transaction"))
    assert len(cases) + len(notified) == ROWS and cases
    assert len(mails_to(mail_catcher.api_url, over_tls.customer_email_domain)) == ROWS


@pytest.mark.parametrize("client", ["plaintext", "trusting another authority"])
def test_a_client_without_tls_or_the_authority_gets_nothing(
    over_tls: Settings, tmp_path: Path, client: str
) -> None:
    """What crosses the network is encrypted, and a client talks only to a broker whose
    certificate the deployment's authority signed."""
    if client == "plaintext":
        change = {"security.protocol": "SASL_PLAINTEXT"}
    else:
        other = ensure_certificates(tmp_path / "other") / CA_FILE
        change = {"ssl.ca.location": str(other)}
    errors: list[KafkaError] = []
    settings = {**over_tls.kafka_connection, **change, "message.timeout.ms": 5000}
    producer = Producer({**settings, "error_cb": errors.append})
    delivered: list[bool] = []
    producer.produce(
        topology(over_tls).fraud.name,
        b"probe",
        on_delivery=lambda failure, _message: delivered.append(failure is None),
    )
    producer.flush(10)
    assert delivered == [False], f"a client {client} could write"
    assert errors, f"a client {client} was not told why"
