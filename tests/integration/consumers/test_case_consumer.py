"""The case consumer against the real stack, on SQLite and on PostgreSQL: killed with
SIGKILL mid-stream and started again, it leaves every flagged transaction and every
answer in the table once, exactly as a run without the crash would."""

from __future__ import annotations

import secrets
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from confluent_kafka import Message, Producer
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from fraudstream import kafka
from fraudstream.devstack import postgres as devstack_postgres
from fraudstream.emails.tokens import answer_mac
from fraudstream.kafka import registry
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings, token_key
from fraudstream.storage import case_table
from fraudstream.wiring.provision import migrate_cases
from tests.integration.conftest import Stack
from tests.integration.kafka_reading import read_committed, transaction_id
from tests.integration.pipeline import (
    case_rows,
    command_output,
    consume_cases,
    produce,
    start_consumer,
    stop_once_caught_up,
    wait_until,
)

ROWS = 6_000
BATCH = 100


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, stack: Stack, tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind the test is run for."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.sqlite3'}"
        return
    name = f"it_cases_{uuid.uuid4().hex[:8]}"
    devstack_postgres.create_database(name)
    try:
        yield devstack_postgres.database_url(name)
    finally:
        devstack_postgres.drop_database(name)


@pytest.fixture
def case_settings(settings: Settings, database_url: str) -> Settings:
    """Every amount above 900 flagged (most rows), small batches, the table migrated."""
    chosen = settings.model_copy(
        update={
            "cases_database_url": SecretStr(database_url),
            "detector": "threshold",
            "batch_max_records": BATCH,
            "retry_max_seconds": 1.0,
        }
    )
    migrate_cases(chosen, say=lambda _line: None)
    return chosen


def _engine(settings: Settings) -> Engine:
    return case_table.cases_engine(settings.cases_database_url.get_secret_value())


def _count(settings: Settings) -> int:
    engine = _engine(settings)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(case_table.fraud_cases)
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _publish_answers(settings: Settings, answers: dict[str, str], key: bytes | None = None) -> None:
    """Answers as the confirmation service publishes them: with their MAC, made with the
    settings' token key, or ``key``."""
    client = registry.registry_client(settings.schema_registry_url)
    encode = registry.value_serializer(
        client, settings.confirmation_topic, registry.load_schema("fraud_confirmation")
    )
    producer = Producer(kafka.producer_config(settings.kafka_connection))
    answered_at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    signing = key or token_key(settings)

    def record(tid: str, status: str) -> dict[str, object]:
        answer = {"transaction_id": tid, "status": status, "answered_at": answered_at}
        signed = {**answer, "answered_at": answered_at.isoformat(timespec="milliseconds")}
        return {**answer, "mac": answer_mac(signed, signing)}

    kafka.produce_and_wait(
        producer,
        (
            {
                "topic": settings.confirmation_topic,
                "key": tid.encode(),
                "value": encode(record(tid, status)),
            }
            for tid, status in answers.items()
        ),
        "answers",
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_migration_makes_exactly_the_declared_table_on_postgresql(
    case_settings: Settings,
) -> None:
    engine = _engine(case_settings)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), case_table.metadata)
        assert diff == []
        case_table.require_current(engine)
    finally:
        engine.dispose()


def test_a_killed_case_consumer_loses_and_changes_nothing(
    case_settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    write_csv(source, rows=ROWS, seed=33)
    produce(case_settings, source)
    flagged = [
        transaction_id(m)
        for m in read_committed(case_settings.kafka_bootstrap_servers, case_settings.fraud_topic)
    ]
    assert len(flagged) > ROWS // 2
    answers = {
        tid: ("confirmed_fraud" if i % 2 else "not_fraud") for i, tid in enumerate(flagged[::40])
    }
    _publish_answers(case_settings, answers)

    first = start_consumer(case_settings, "cases", log=tmp_path / "first.log")
    wait_until(lambda: _count(case_settings) >= 5 * BATCH, "the first batches", timeout=120)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert _count(case_settings) < len(flagged), "killed after the last batch"

    second = start_consumer(case_settings, "cases", log=tmp_path / "second.log")
    stop_once_caught_up([second], [tmp_path / "second.log"], case_settings, "cases")

    table = case_rows(case_settings)
    assert sorted(table) == sorted(flagged), "the table misses flagged transactions or has others"
    answered = {tid: row["status"] for tid, row in table.items() if row["status"] != "pending"}
    assert answered == answers
    assert all(row["answered_at"] is not None for tid, row in table.items() if tid in answers)
    assert {row["detector"] for row in table.values()} == {"threshold"}
    assert all(row["amount"] > 900 and row["score"] == 1.0 for row in table.values())

    # The loop closed: the threshold's precision, as the customers answered.
    confirmed = sum(status == "confirmed_fraud" for status in answers.values())
    measured = command_output(case_settings, "evaluate", "--from-cases")
    assert (
        f"| `threshold` | {len(flagged):,} | {len(answers):,} | {confirmed:,} | "
        f"{len(answers) - confirmed:,} | {confirmed / len(answers):.4f} |"
    ) in measured
    shown = command_output(case_settings, "cases", "--limit", "3")
    assert f"threshold: {len(flagged):,} flagged, {len(flagged) - len(answers):,} pending" in shown
    password = case_settings.cases_database_url.get_secret_value().partition("@")[0]
    assert password.rpartition(":")[2] not in measured + shown or "sqlite" in password


def _header(message: Message, name: str) -> str:
    pairs: list[tuple[str, bytes]] = list(message.headers() or [])  # type: ignore[arg-type]
    return dict(pairs)[name].decode()


def _flagged(number: int, name_orig: str) -> dict[str, Any]:
    return {
        "transaction_id": f"{number:016x}",
        "step": 1,
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "type": "TRANSFER",
        "amount": 950.0,
        "nameOrig": name_orig,
        "oldbalanceOrg": 950.0,
        "newbalanceOrig": 0.0,
        "nameDest": "C9",
        "oldbalanceDest": 0.0,
        "newbalanceDest": 0.0,
        "isFraud": True,
        "isFlaggedFraud": False,
        "customer_email": f"c{number}@bank.example",
        "detector": "threshold",
        "score": 1.0,
    }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_foreign_record_and_a_row_the_database_refuses_are_dead_letters_the_rest_written(
    case_settings: Settings,
) -> None:
    """A transaction on the answers topic (its writer may write there) cannot stop the
    consumer, nor can a value PostgreSQL will not store (a NUL byte in a name)."""
    settings = case_settings
    client = registry.registry_client(settings.schema_registry_url)
    encode = registry.value_serializer(
        client, settings.fraud_topic, registry.load_schema("transaction")
    )
    good, refused = [_flagged(n, f"C{n}") for n in (1, 2)], _flagged(3, "C3\x00")
    foreign = encode(_flagged(4, "C4"))
    producer = Producer(kafka.producer_config(settings.kafka_connection))
    kafka.produce_and_wait(
        producer,
        [
            *(
                {"topic": settings.fraud_topic, "value": encode(r), "partition": 0}
                for r in (*good, refused)
            ),
            {"topic": settings.confirmation_topic, "value": foreign, "partition": 0},
        ],
        "the test records",
    )
    _publish_answers(settings, {good[0]["transaction_id"]: "confirmed_fraud"})

    consume_cases(settings)

    table = case_rows(settings)
    assert sorted(table) == sorted(r["transaction_id"] for r in good)
    assert table[good[0]["transaction_id"]]["status"] == "confirmed_fraud"
    dead = read_committed(settings.kafka_bootstrap_servers, settings.dead_letter_topic)
    reasons = {m.value(): _header(m, "error") for m in dead}
    assert len(dead) == 2 and foreign in reasons
    assert "does not resolve" in reasons.pop(foreign)
    assert "NUL" in reasons.popitem()[1]


def test_an_answer_without_the_token_key_s_mac_closes_no_case(case_settings: Settings) -> None:
    """Kafka's super user (or any writer of the answers topic) could publish "not fraud"
    for a pending case; only an answer the confirmation service recorded counts."""
    settings = case_settings
    client = registry.registry_client(settings.schema_registry_url)
    encode = registry.value_serializer(
        client, settings.fraud_topic, registry.load_schema("transaction")
    )
    flagged = [_flagged(n, f"C{n}") for n in (1, 2, 3)]
    producer = Producer(kafka.producer_config(settings.kafka_connection))
    records = [{"topic": settings.fraud_topic, "value": encode(r)} for r in flagged]
    kafka.produce_and_wait(producer, records, "the flagged transactions")
    unsigned, forged, answered = (r["transaction_id"] for r in flagged)
    as_answer = registry.value_serializer(
        client, settings.confirmation_topic, registry.load_schema("fraud_confirmation")
    )
    planted = {"transaction_id": unsigned, "status": "not_fraud", "answered_at": datetime.now(UTC)}
    kafka.produce_and_wait(
        producer, [{"topic": settings.confirmation_topic, "value": as_answer(planted)}], "planted"
    )
    _publish_answers(settings, {forged: "not_fraud"}, key=secrets.token_urlsafe(32).encode())
    _publish_answers(settings, {answered: "not_fraud"})
    refused_before = REGISTRY.get_sample_value("fraudstream_answers_refused_total") or 0.0

    consume_cases(settings)

    table = case_rows(settings)
    assert {tid: row["status"] for tid, row in table.items()} == {
        unsigned: "pending",
        forged: "pending",
        answered: "not_fraud",
    }
    assert REGISTRY.get_sample_value("fraudstream_answers_refused_total") == refused_before + 2
    dead = read_committed(settings.kafka_bootstrap_servers, settings.dead_letter_topic)
    assert sorted(_header(m, "error") for m in dead) == 2 * [
        "not a case or an answer: ValueError: an answer without the token key's MAC"
    ]
