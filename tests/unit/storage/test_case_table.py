"""The case table on SQLite: its migration, and upserts that a redo cannot change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select

from fraudstream.errors import MissingResourceError
from fraudstream.storage import case_reports, case_table

FLAGGED = datetime(2026, 1, 1, 1, tzinfo=UTC)
ANSWERED = datetime(2026, 1, 2, 9, tzinfo=UTC)


def _transaction(transaction_id: str, customer: str = "C1") -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "step": 1,
        "event_time": FLAGGED,
        "type": "TRANSFER",
        "amount": 181.0,
        "nameOrig": customer,
        "nameDest": "C2",
        "oldbalanceOrg": 181.0,
        "newbalanceOrig": 0.0,
        "customer_email": f"{customer}@x.example",
        "detector": "gbm",
        "score": 0.98,
    }


def _answer(transaction_id: str, status: str, when: datetime = ANSWERED) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "status": status, "answered_at": when}


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = case_table.cases_engine(f"sqlite:///{tmp_path / 'db' / 'cases.sqlite3'}")
    case_table.migrate(engine)
    return engine


def _table(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(case_table.fraud_cases)).mappings().all()
    return {row["transaction_id"]: dict(row) for row in rows}


def test_the_migration_makes_exactly_the_declared_table(engine: Engine) -> None:
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), case_table.metadata) == []
    indexes = {i["name"] for i in inspect(engine).get_indexes("fraud_cases")}
    assert indexes == {"ix_fraud_cases_open", "ix_fraud_cases_customer", "ix_fraud_cases_answered"}
    case_table.require_current(engine)


def test_an_unmigrated_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    engine = case_table.cases_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(MissingResourceError, match=r"fraud_cases.*fraudstream migrate"):
        case_table.require_current(engine)


def test_a_redo_changes_nothing(engine: Engine) -> None:
    found = [case_table.case_row(_transaction(f"t{i}"), FLAGGED) for i in range(5)]
    answers = [case_table.answer_row(_answer("t1", "confirmed_fraud"))]
    case_table.write(engine, found, answers)
    first = _table(engine)
    case_table.write(engine, found, answers)
    case_table.write(engine, found[2:], [])
    assert _table(engine) == first
    assert first["t1"]["status"] == "confirmed_fraud"
    assert first["t0"]["status"] == "pending" and first["t0"]["answered_at"] is None
    assert first["t0"]["detector"] == "gbm" and first["t0"]["score"] == 0.98


def test_an_answer_read_before_its_transaction_is_kept(engine: Engine) -> None:
    case_table.write(engine, [], [case_table.answer_row(_answer("t9", "not_fraud"))])
    case_table.write(engine, [case_table.case_row(_transaction("t9"), FLAGGED)], [])
    row = _table(engine)["t9"]
    assert row["status"] == "not_fraud" and row["amount"] == 181.0 and row["name_orig"] == "C1"


def test_the_first_answer_counts(engine: Engine) -> None:
    case_table.write(engine, [case_table.case_row(_transaction("t1"), FLAGGED)], [])
    case_table.write(engine, [], [case_table.answer_row(_answer("t1", "not_fraud"))])
    later = datetime(2026, 1, 3, tzinfo=UTC)
    case_table.write(engine, [], [case_table.answer_row(_answer("t1", "confirmed_fraud", later))])
    assert _table(engine)["t1"]["status"] == "not_fraud"


def test_the_same_transaction_twice_in_one_batch_is_one_row(engine: Engine) -> None:
    row = case_table.case_row(_transaction("t1"), FLAGGED)
    case_table.write(engine, [row, row], [])
    assert list(_table(engine)) == ["t1"]


def test_answers_by_detector(engine: Engine) -> None:
    flagged = [case_table.case_row(_transaction(f"t{i}"), FLAGGED) for i in range(4)]
    case_table.write(
        engine,
        flagged,
        [
            case_table.answer_row(_answer("t0", "confirmed_fraud")),
            case_table.answer_row(_answer("t1", "not_fraud")),
        ],
    )
    assert case_reports.answers_by_detector(engine) == [
        ("gbm", "confirmed_fraud", 1),
        ("gbm", "not_fraud", 1),
        ("gbm", "pending", 2),
    ]


def test_only_sqlite_and_postgresql_are_taken() -> None:
    with pytest.raises(case_table.CasesError, match="CASES_DATABASE_URL"):
        case_table.cases_engine("mysql://u:p@db/x")
