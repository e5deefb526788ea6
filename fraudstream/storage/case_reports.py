"""What the case table says: the newest cases, and how each detector's flags fared with
the customers who answered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from fraudstream.storage.case_table import fraud_cases, translated


@dataclass(frozen=True)
class AnsweredPrecision:
    """How one detector's flags fared with the customers who answered."""

    detector: str
    flagged: int
    confirmed_fraud: int
    not_fraud: int

    @property
    def answered(self) -> int:
        return self.confirmed_fraud + self.not_fraud

    @property
    def precision(self) -> float | None:
        """Of the answered cases, the share the customer confirmed as fraud."""
        return self.confirmed_fraud / self.answered if self.answered else None


def precision_by_detector(counts: Sequence[tuple[str, str, int]]) -> list[AnsweredPrecision]:
    """``answers_by_detector``'s counts, one line a detector."""
    by_detector: dict[str, dict[str, int]] = {}
    for detector, status, count in counts:
        by_detector.setdefault(detector, {})[status] = count
    return [
        AnsweredPrecision(
            detector,
            sum(statuses.values()),
            statuses.get("confirmed_fraud", 0),
            statuses.get("not_fraud", 0),
        )
        for detector, statuses in sorted(by_detector.items())
    ]


def latest_cases(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    """The newest cases, answered or not, newest first."""
    query = (
        select(fraud_cases)
        .order_by(fraud_cases.c.flagged_at.desc(), fraud_cases.c.transaction_id)
        .limit(limit)
    )
    with translated(engine, "reading fraud cases"), engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def answers_by_detector(engine: Engine) -> list[tuple[str, str, int]]:
    """(detector, status, cases) for every detector and status in the table."""
    query = (
        select(fraud_cases.c.detector, fraud_cases.c.status, func.count())
        .group_by(fraud_cases.c.detector, fraud_cases.c.status)
        .order_by(fraud_cases.c.detector, fraud_cases.c.status)
    )
    with translated(engine, "reading fraud cases"), engine.connect() as connection:
        return [(str(d), str(s), int(n)) for d, s, n in connection.execute(query)]
