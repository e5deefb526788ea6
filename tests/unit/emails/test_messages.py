from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from babel.numbers import format_currency
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.emails.addresses import AddressError
from fraudstream.emails.branding import Brand
from fraudstream.emails.messages import Email, Letterhead, render, transaction_fields

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
BRAND = Brand("Fraudstream Bank", "+1 555 0100")
LETTERHEAD = Letterhead("alerts@bank.example", BRAND)
LINKS = {
    "yes_url": "https://confirm.example/c?t=a.b&x=1",
    "no_url": "https://confirm.example/c?t=c.d",
    "expires": "08 Jan 2026 at 00:00 UTC",
}
TEMPLATES = {"transaction_notification": {}, "fraud_confirmation_request": LINKS}


def _parts(email: Email) -> tuple[str, str]:
    """The decoded plain and HTML parts, read back from the message's wire form."""
    parsed = _parsed(email)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def _parsed(email: Email) -> EmailMessage:
    parsed = message_from_bytes(email.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _email(
    template: str,
    letterhead: Letterhead = LETTERHEAD,
    recipient: str = "c@example.org",
    subject: str = "Hi",
    **changes: Any,
) -> Email:
    fields = {**transaction_fields(TRANSACTION, letterhead.brand), **changes}
    return render(template, subject, letterhead, recipient, **TEMPLATES[template], **fields)


class _VisibleText(HTMLParser):
    """The words a reader sees in an HTML body (not its head), and the links' addresses."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.links: list[str] = []
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_head |= tag == "head"
        self.links += [str(value) for name, value in attrs if tag == "a" and name == "href"]

    def handle_endtag(self, tag: str) -> None:
        self._in_head &= tag != "head"

    def handle_data(self, data: str) -> None:
        if not self._in_head:
            self.words += _words(data)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", re.sub(r"https?://\S+", "", text))


def test_money_and_times_read_as_people_write_them() -> None:
    fields = transaction_fields(TRANSACTION, BRAND)
    assert BRAND.money(1234567.5) == "$1,234,567.50"
    assert fields["amount"] == "$92,445,516.64"
    assert fields["when"] == "01 Jan 2026 at 00:00 UTC"
    assert fields["kind"] == "transfer"
    assert Brand("B", "c", currency="EUR", locale="de_DE").money(1234.5) == "1.234,50\xa0€"
    with pytest.raises(ValueError, match="not an amount"):
        BRAND.money(float("inf"))


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_plain_text_says_what_the_html_says(template: str) -> None:
    for letterhead in (LETTERHEAD, Letterhead("alerts@bank.example", BRAND, "help@bank.example")):
        text, html = _parts(_email(template, letterhead))
        seen = _VisibleText()
        seen.feed(html)
        assert seen.words == _words(text)
        assert [link for link in seen.links] == [url for url in re.findall(r"https://\S+", text)]


def test_notification_has_plain_and_html_parts_with_the_facts() -> None:
    message = _email("transaction_notification", recipient="C1305486145@customers.example")
    assert message.recipient == "C1305486145@customers.example"
    headers = _parsed(message)
    assert headers["To"] == message.recipient and headers["Message-ID"] == message.message_id
    assert b"\r\n" in message.data and b"\n\n" not in message.data.replace(b"\r\n", b"")
    text, html = _parts(message)
    for part in (text, html):
        for fact in (
            "$92,445,516.64",
            "01 Jan 2026 at 00:00 UTC",
            "C553264065",
            "3f1c0ad2e9b84c11",
            "$0.00",
            "+1 555 0100",
        ):
            assert fact in part


def test_confirmation_request_carries_both_links_and_escapes_html() -> None:
    message = _email("fraud_confirmation_request", customer="<script>x</script>")
    text, html = _parts(message)
    assert "https://confirm.example/c?t=a.b&x=1" in text
    assert 'href="https://confirm.example/c?t=a.b&amp;x=1"' in html
    assert ">Yes, it was me</a>" in html and ">No, report fraud</a>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_headers_say_it_is_automatic_whose_it_is_and_when() -> None:
    message = _email("transaction_notification", Letterhead("Bank <alerts@bank.example>", BRAND))
    headers = _parsed(message)
    assert headers["Auto-Submitted"] == "auto-generated"  # RFC 3834: no auto-replies to it
    assert headers["X-Auto-Response-Suppress"] == "All"
    assert message.message_id.endswith("@bank.example>")
    assert parsedate_to_datetime(headers["Date"]).tzinfo is not None
    assert headers["Reply-To"] is None


def test_a_reply_address_is_set_only_where_the_email_invites_a_reply() -> None:
    for template in TEMPLATES:
        for reply_to in (None, "help@bank.example"):
            message = _email(template, Letterhead("alerts@bank.example", BRAND, reply_to))
            text, html = _parts(message)
            assert _parsed(message)["Reply-To"] == reply_to
            assert ("Reply to this email" in text) is (reply_to is not None)
            assert ("Reply to this email" in html) is (reply_to is not None)


def test_a_rebrand_is_settings_not_template_edits() -> None:
    brand = Brand(
        "Banque Exemple",
        "+33 1 23 45 67 89",
        logo_url="https://cdn.example/logo.png",
        colour="#5a1e6e",
        currency="EUR",
        locale="fr_FR",
    )
    for template in TEMPLATES:
        message = _email(template, Letterhead("alertes@banque.example", brand))
        text, html = _parts(message)
        for part in (text, html):
            assert "Banque Exemple" in part and "+33 1 23 45 67 89" in part
            assert brand.money(TRANSACTION["amount"]) in part and "€" in part
            assert "Fraudstream" not in part and "$" not in part
        assert 'src="https://cdn.example/logo.png"' in html and "#5a1e6e" in html


def test_non_ascii_headers_are_encoded_and_line_breaks_refused() -> None:
    message = _email(
        "transaction_notification",
        Letterhead("Banque <alerts@bank.example>", BRAND),
        subject="Votre virement — reçu",
    )
    assert message.data.isascii()
    assert _parsed(message)["Subject"] == "Votre virement — reçu"
    with pytest.raises(AddressError, match="cannot have before @"):
        _email("transaction_notification", recipient="c\r\nBcc: e@x.org")
    with pytest.raises(ValueError, match="line break"):
        _email("transaction_notification", Letterhead("A\r\nBcc: e@x.org <a@bank.example>", BRAND))
    with pytest.raises(ValueError, match="line break"):
        _email("transaction_notification", subject="Hi\r\nBcc: e@x.org")


@pytest.mark.parametrize("name", ["Banque Société", "Zoë's bank", "Bank & Co"])
def test_a_display_name_of_any_script_leaves_the_address_readable(name: str) -> None:
    letterhead = Letterhead(f"{name} <alerts@bank.example>", BRAND, f"{name} <help@bank.example>")
    message = _email("transaction_notification", letterhead)
    assert message.data.isascii()
    parsed = _parsed(message)
    for header, address in (("From", "alerts@bank.example"), ("Reply-To", "help@bank.example")):
        assert parsed[header].addresses[0].addr_spec == address
        assert parsed[header].addresses[0].display_name == name


def test_bodies_survive_the_wire_whatever_they_hold() -> None:
    awkward = "Zoë = 100% " + "long " * 40 + "end\t "
    message = _email("transaction_notification", customer=awkward)
    assert message.data.isascii()
    assert all(len(line) <= 78 for line in message.data.split(b"\r\n"))
    assert b"\n" not in message.data.replace(b"\r\n", b"")
    text, html = _parts(message)
    assert f"Hello {awkward}," in text and awkward in html


LOCALES = [
    ("USD", "en_US"),
    ("EUR", "de_DE"),
    ("EUR", "fr_FR"),
    ("JPY", "ja_JP"),
    ("INR", "en_IN"),
    ("CHF", "de_CH"),
    ("KES", "en_KE"),
]


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(min_value=-(10**12), max_value=10**12), where=st.sampled_from(LOCALES))
def test_amounts_are_written_as_babel_writes_them(cents: int, where: tuple[str, str]) -> None:
    currency, locale = where
    amount = cents / 100
    brand = Brand("B", "c", currency=currency, locale=locale)
    assert brand.money(amount) == format_currency(amount, currency, locale=locale)
