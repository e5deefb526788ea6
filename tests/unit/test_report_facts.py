"""The report's counting: a lake line it cannot read is counted and left out, never a traceback."""

from __future__ import annotations

from fraudstream.reporting.facts import Facts, _count_transaction, _json_object


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
