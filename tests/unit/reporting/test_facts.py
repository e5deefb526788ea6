"""The report's counting: a lake line it cannot read is counted and left out, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraudstream.reporting.facts import Facts, _count_transaction, _email_latency, _json_object
from fraudstream.reporting.page import write_report


def test_only_json_objects_are_records() -> None:
    assert _json_object(b'{"step": 1}') == {"step": 1}
    for line in (b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"{"):
        assert _json_object(line) is None


def test_a_record_that_is_no_transaction_is_counted_as_unreadable() -> None:
    facts = Facts(lake="gs://lake/")
    _count_transaction(facts, {"step": 3, "type": "PAYMENT", "amount": 9.5}, fraud=False)
    _count_transaction(facts, {"step": 3, "type": "TRANSFER", "amount": 100.0}, fraud=True)
    _count_transaction(facts, {"step": "three", "type": "PAYMENT", "amount": 1.0}, fraud=False)
    _count_transaction(facts, {"type": "PAYMENT"}, fraud=False)
    assert (facts.rows, facts.fraud, facts.unreadable) == (2, 1, 2)
    assert dict(facts.amounts_by_type) == {"PAYMENT": [9.5], "TRANSFER": [100.0]}


def test_the_latency_of_a_live_runs_emails_is_read_from_the_lake(tmp_path: Path) -> None:
    """Sent emails of live payments, with their seconds from the payment; replayed history,
    rejected emails and unreadable times are left out; the page plots and tabulates them."""
    payment = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    made = {
        "live-fraud": (payment.isoformat(), True),
        "live-note": (payment.isoformat(), False),
        "history": (datetime(2026, 1, 1, tzinfo=UTC).isoformat(), False),
        "odd": ("not a time", False),
    }
    sent = (payment + timedelta(seconds=0.4)).isoformat()
    log = [
        {"transaction_id": "live-fraud", "status": "sent", "finished_at": sent},
        {"transaction_id": "live-note", "status": "sent", "finished_at": sent},
        {"transaction_id": "live-note", "status": "rejected", "finished_at": sent},
        {"transaction_id": "history", "status": "sent", "finished_at": sent},
        {"transaction_id": "odd", "status": "sent", "finished_at": sent},
        {"transaction_id": "unknown", "status": "sent", "finished_at": sent},
    ]
    latency = _email_latency(log, made)
    assert sorted((seconds, fraud) for _, seconds, fraud in latency) == [(0.4, False), (0.4, True)]

    facts = Facts(lake="gs://lake/", email_latency=latency)
    page = write_report(facts, tmp_path / "report.html").read_text()
    assert "From the payment to its email" in page
    assert 'data-figure="latency-p50-True">p50 0.40 s' in page
    assert page.count("<svg") >= 5  # steps, amounts, emails and the two latency plots
