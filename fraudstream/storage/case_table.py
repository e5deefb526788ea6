"""The fraud case table, in SQL through SQLAlchemy: one row a flagged transaction.

A row is made by whichever comes first, the flagged transaction or the
customer's answer, and completed by the other, so the two topics may be read
in any order. Both writes are upserts keyed by ``transaction_id``: written
again (a redo after a crash), they change nothing. The first answer counts;
a second one for the same transaction is ignored, as the confirmation
service records only one.

``CASES_DATABASE_URL`` picks the database: a SQLite file by default,
PostgreSQL (``postgresql+psycopg://``) for real use. The schema is made and
moved forward by the Alembic migrations in ``fraudstream/migrations``, run by
``fraudstream setup``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    exc,
    make_url,
)
from sqlalchemy.dialects import postgresql, sqlite

from fraudstream.errors import MissingResourceError, PermanentError, TransientError

log = logging.getLogger("fraudstream.cases")

MIGRATIONS = Path(__file__).with_name("migrations")
STATUSES = ("pending", "confirmed_fraud", "not_fraud")

metadata = MetaData()
fraud_cases = Table(
    "fraud_cases",
    metadata,
    Column("transaction_id", String, primary_key=True),
    Column("step", Integer),
    Column("event_time", DateTime(timezone=True)),
    Column("type", String),
    Column("amount", Double),
    Column("name_orig", String),
    Column("name_dest", String),
    Column("old_balance_orig", Double),
    Column("new_balance_orig", Double),
    Column("customer_email", String),
    Column("detector", String),
    Column("score", Double),
    Column("status", String, nullable=False, server_default="pending"),
    Column("flagged_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    CheckConstraint(
        "status IN ('pending', 'confirmed_fraud', 'not_fraud')", name="ck_fraud_cases_status"
    ),
    Index("ix_fraud_cases_open", "status", "flagged_at"),  # open cases, oldest first
    Index("ix_fraud_cases_customer", "name_orig", "flagged_at"),  # a customer's cases
    Index("ix_fraud_cases_answered", "answered_at"),  # answers by day
)
TRANSACTION_COLUMNS = (
    "step",
    "event_time",
    "type",
    "amount",
    "name_orig",
    "name_dest",
    "old_balance_orig",
    "new_balance_orig",
    "customer_email",
    "detector",
    "score",
    "flagged_at",
)


class CasesUnavailableError(TransientError):
    """The database did not answer: try again later."""


class CasesError(PermanentError):
    """The database refused: a wrong URL, password or permission."""


class RowRefusedError(CasesError):
    """The database refused a value of a row (a constraint, a type, a byte it cannot store):
    the row's fault, not the deployment's."""


def cases_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is made, and SQLite waits for locks."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise CasesError(
            f"CASES_DATABASE_URL: use sqlite:/// or postgresql+psycopg://, not {parsed.drivername}"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.close()


def shown(engine: Engine) -> str:
    """The engine's URL with its password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def translated(engine: Engine, what: str) -> Iterator[None]:
    """SQLAlchemy's errors as the project's: an outage is transient, a refusal permanent."""
    try:
        yield
    except (exc.IntegrityError, exc.DataError) as error:
        raise RowRefusedError(f"{what}: {_first_line(error)}") from None
    except exc.OperationalError as error:
        if _refused(error):
            raise CasesError(f"{what} on {shown(engine)}: {_first_line(error)}") from None
        raise CasesUnavailableError(f"{what} on {shown(engine)}: {_first_line(error)}") from None
    except exc.DBAPIError as error:
        raise CasesError(f"{what} on {shown(engine)}: {_first_line(error)}") from None
    except exc.StatementError as error:  # a value the driver cannot send at all
        raise RowRefusedError(f"{what}: {str(error.orig)[:300]}") from None


def _refused(error: exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(
        word in text
        for word in (
            "password",
            "authentication",
            "does not exist",
            "permission denied",
            "unable to open",
        )
    )


def _first_line(error: exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0][:300] if error.orig else str(error)[:300]


# The schema ------------------------------------------------------------------------------


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest migration; return its revision."""
    with translated(engine, "migrating the case table"), engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")
        return str(MigrationContext.configure(connection).get_current_revision())


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    return str(script.get_current_head())


def require_current(engine: Engine) -> None:
    """``MissingResourceError`` unless the schema is at the newest migration."""
    with translated(engine, "reading the schema version"), engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head_revision():
        raise MissingResourceError(
            f"the fraud_cases table at the newest migration ({head_revision()}, "
            f"found {current or 'none'}) in {shown(engine)}",
            fix="fraudstream migrate",
        )


# Writing ---------------------------------------------------------------------------------


def case_row(transaction: dict[str, Any], flagged_at: datetime) -> dict[str, Any]:
    """A flagged transaction (a decoded record) as the columns of its case."""
    return {
        "transaction_id": transaction["transaction_id"],
        "step": transaction["step"],
        "event_time": transaction["event_time"],
        "type": transaction["type"],
        "amount": transaction["amount"],
        "name_orig": transaction["nameOrig"],
        "name_dest": transaction["nameDest"],
        "old_balance_orig": transaction["oldbalanceOrg"],
        "new_balance_orig": transaction["newbalanceOrig"],
        "customer_email": transaction["customer_email"],
        "detector": transaction.get("detector", "unknown"),
        "score": transaction.get("score", 0.0),
        "flagged_at": flagged_at,
    }


def answer_row(answer: dict[str, Any]) -> dict[str, Any]:
    """A customer's answer (a decoded FraudConfirmation) as the columns it sets."""
    return {
        "transaction_id": answer["transaction_id"],
        "status": answer["status"],
        "answered_at": answer["answered_at"],
    }


def _insert(connection: Connection) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(fraud_cases)


def upsert_cases(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert each case, or fill in the transaction of one an answer made first."""
    _upsert(connection, rows, TRANSACTION_COLUMNS)


def upsert_answers(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Set each case's answer unless it has one (the first answer counts)."""
    _upsert(connection, rows, ("status", "answered_at"), fraud_cases.c.answered_at.is_(None))


def _upsert(
    connection: Connection,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    only_where: ColumnElement[bool] | None = None,
) -> None:
    """Insert each row, or on a case that exists set ``columns`` (where ``only_where``)."""
    if not rows:
        return
    statement = _insert(connection).values(list(_unique(rows)))
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["transaction_id"],
            set_={name: statement.excluded[name] for name in columns},
            where=only_where,
        )
    )


def _unique(rows: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The first row of each transaction: one statement may not touch a row twice."""
    seen: set[str] = set()
    for row in rows:
        if row["transaction_id"] not in seen:
            seen.add(row["transaction_id"])
            yield row


def write(
    engine: Engine, cases: Sequence[dict[str, Any]], answers: Sequence[dict[str, Any]]
) -> None:
    """Cases, then answers, in one database transaction."""
    with translated(engine, "writing fraud cases"), engine.begin() as connection:
        upsert_cases(connection, cases)
        upsert_answers(connection, answers)
