from __future__ import annotations

from typing import Any

from fraudstream.emails import money, render, transaction_fields

TRANSACTION: dict[str, Any] = {
    "transaction_id": "3f1c0ad2e9b84c11",
    "type": "TRANSFER",
    "amount": 92_445_516.64,
    "nameOrig": "C1305486145",
    "oldbalanceOrg": 92_445_516.64,
    "newbalanceOrig": 0.0,
    "nameDest": "C553264065",
    "event_time": 1_767_225_600_000,  # 2026-01-01 00:00 UTC
}


def _parts(message: Any) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_money_and_times_read_as_people_write_them() -> None:
    fields = transaction_fields(TRANSACTION)
    assert money(1234567.5) == "USD 1,234,567.50"
    assert fields["amount"] == "USD 92,445,516.64"
    assert fields["when"] == "01 Jan 2026 at 00:00 UTC"
    assert fields["kind"] == "transfer"


def test_notification_has_plain_and_html_parts_with_the_facts() -> None:
    message = render(
        "transaction_notification", "Your transfer of USD 92,445,516.64",
        "alerts@bank.example", "C1305486145@customers.example", **transaction_fields(TRANSACTION),
    )  # fmt: skip
    assert message["To"] == "C1305486145@customers.example"
    assert message["Message-ID"].endswith("@bank.example>")
    text, html = _parts(message)
    for part in (text, html):
        assert "USD 92,445,516.64" in part and "C553264065" in part and "3f1c0ad2e9b84c11" in part


def test_confirmation_request_carries_both_links_and_escapes_html() -> None:
    fields = {**transaction_fields(TRANSACTION), "customer": "<script>x</script>"}
    message = render(
        "fraud_confirmation_request", "Was this you?", "alerts@bank.example", "c@example.org",
        yes_url="https://confirm.example/c?t=a.b&x=1", no_url="https://confirm.example/c?t=c.d",
        expires="08 Jan 2026 at 00:00 UTC", **fields,
    )  # fmt: skip
    text, html = _parts(message)
    assert "https://confirm.example/c?t=a.b&x=1" in text
    assert 'href="https://confirm.example/c?t=a.b&amp;x=1"' in html
    assert "Yes, it was me" in html and "No, report fraud" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
