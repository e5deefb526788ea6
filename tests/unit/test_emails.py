from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from fraudstream.addresses import AddressError
from fraudstream.emails import Email, money, render, transaction_fields

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


def _parts(email: Email) -> tuple[str, str]:
    """The decoded plain and HTML parts, read back from the message's wire form."""
    parsed = message_from_bytes(email.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


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
    assert message.recipient == "C1305486145@customers.example"
    assert message.message_id.endswith("@bank.example>")
    headers = message_from_bytes(message.data, policy=default)
    assert headers["To"] == message.recipient and headers["Message-ID"] == message.message_id
    assert b"\r\n" in message.data and b"\n\n" not in message.data.replace(b"\r\n", b"")
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


def test_non_ascii_headers_are_encoded_and_line_breaks_refused() -> None:
    fields = transaction_fields(TRANSACTION)
    message = render(
        "transaction_notification", "Votre virement — reçu", "Banque <alerts@bank.example>",
        "c@example.org", **fields,
    )  # fmt: skip
    assert message.data.isascii()
    assert message_from_bytes(message.data, policy=default)["Subject"] == "Votre virement — reçu"
    with pytest.raises(AddressError, match="cannot have before @"):
        render("transaction_notification", "Hi", "a@bank.example", "c\r\nBcc: e@x.org", **fields)
    with pytest.raises(ValueError, match="line break"):
        render("transaction_notification", "Hi", "A\r\nBcc: e@x.org <a@bank.example>",
               "c@x.org", **fields)  # fmt: skip
    with pytest.raises(ValueError, match="line break"):
        render("transaction_notification", "Hi\r\nBcc: e@x.org", "a@bank.example",
               "c@x.org", **fields)  # fmt: skip


def test_bodies_survive_the_wire_whatever_they_hold() -> None:
    awkward = "Zoë = 100% " + "long " * 40 + "end\t "
    fields = {**transaction_fields(TRANSACTION), "customer": awkward}
    message = render("transaction_notification", "Hi", "a@bank.example", "c@x.org", **fields)
    assert message.data.isascii()
    assert all(len(line) <= 78 for line in message.data.split(b"\r\n"))
    assert b"\n" not in message.data.replace(b"\r\n", b"")
    text, html = _parts(message)
    assert f"Hello {awkward}," in text and awkward in html
