"""Records a consumer cannot email or cannot handle, on the real stack: each gets its outcome
(rejected in the email log, or a dead letter), the rest of the batch goes on, and a second
run sends nothing again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from fraudstream.kafka import produce_and_wait, producer_config, registry
from fraudstream.settings.config import Settings
from fraudstream.topology import LakeFolder, topology
from tests.integration.conftest import Stack
from tests.integration.kafka_reading import read_committed
from tests.integration.pipeline import consume, lake_records, mails_to

BAD_ADDRESSES = {
    "00000000000000b1": "jörg@{domain}",
    "00000000000000b2": "c3@bücher.example",
    "00000000000000b3": "c4@{domain}\r\nBcc: everyone@{domain}",
}


def _transaction(number: int, email: str) -> dict[str, Any]:
    return {
        "transaction_id": f"{number:016x}",
        "step": 1,
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "type": "PAYMENT",
        "amount": 10.5,
        "nameOrig": f"C{number}",
        "oldbalanceOrg": 100.0,
        "newbalanceOrig": 89.5,
        "nameDest": "M1",
        "oldbalanceDest": 0.0,
        "newbalanceDest": 0.0,
        "isFraud": False,
        "isFlaggedFraud": False,
        "customer_email": email,
    }


def with_bad_records(settings: Settings) -> list[dict[str, Any]]:
    """Good transactions, three with addresses SMTP cannot take, and a customer's answer:
    a record under another registered schema, on the transactions topic."""
    declared, domain = topology(settings), settings.customer_email_domain
    client = registry.registry_client(settings.schema_registry_url)
    as_transaction = registry.value_serializer(
        client, declared.non_fraud.name, registry.load_schema("transaction")
    )
    as_answer = registry.value_serializer(
        client, declared.confirmations.name, registry.load_schema("fraud_confirmation")
    )
    records = [_transaction(number, f"c{number}@{domain}") for number in range(1, 41)]
    records += [
        {**_transaction(int(tid, 16), ""), "customer_email": address.format(domain=domain)}
        for tid, address in BAD_ADDRESSES.items()
    ]
    values = [as_transaction(record) for record in records]
    answer = {
        "transaction_id": "00000000000000f1",
        "status": "not_fraud",
        "answered_at": datetime(2026, 1, 2, tzinfo=UTC),
    }
    values.insert(20, as_answer(answer))
    return [{"topic": declared.non_fraud.name, "value": v, "partition": 0} for v in values]


def test_bad_addresses_are_rejected_a_foreign_record_dead_lettered_and_the_rest_goes_on(
    settings: Settings, stack: Stack
) -> None:
    producer = Producer(producer_config(settings.kafka_bootstrap_servers))
    produce_and_wait(producer, with_bad_records(settings), "the test records")

    totals = consume(settings, "non-fraud")

    assert (totals.records, totals.dead_letters) == (43, 1)
    assert (totals.emails_sent, totals.emails_rejected) == (40, 3)
    log = {entry["transaction_id"]: entry for entry in lake_records(settings, LakeFolder.EMAIL_LOG)}
    assert len(log) == 43
    for tid in BAD_ADDRESSES:
        assert log[tid]["status"] == "rejected" and log[tid]["attempts"] == 0
        assert "cannot" in log[tid]["error"] or "non-ASCII" in log[tid]["error"]
    assert len(lake_records(settings, LakeFolder.TRANSACTIONS)) == 43
    mails = mails_to(stack.mail_api_url, settings.customer_email_domain)
    assert sorted(m["to"][0]["address"] for m in mails) == sorted(
        f"c{n}@{settings.customer_email_domain}" for n in range(1, 41)
    )
    dead = read_committed(settings.kafka_bootstrap_servers, settings.dead_letter_topic)
    assert len(dead) == 1
    pairs: list[tuple[str, bytes]] = list(dead[0].headers() or [])  # type: ignore[arg-type]
    assert "does not resolve" in dict(pairs)["error"].decode()

    again = consume(settings, "non-fraud")
    assert again.records == 0
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == 40
