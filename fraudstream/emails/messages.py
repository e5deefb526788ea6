"""Customer emails rendered from ``email_templates/`` (pure: values in, a message out).

Each email is a pair of templates, ``<name>.txt.j2`` and ``<name>.html.j2``,
sent as one multipart/alternative message; both extend a base pair that
carries the brand (``fraudstream.emails.branding``), so the two parts say the same
thing. HTML is autoescaped; amounts and times are formatted for people
before they reach a template, by the same functions the confirmation pages
use.
"""

from __future__ import annotations

import binascii
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from fraudstream.emails.addresses import check_address
from fraudstream.emails.branding import Brand
from fraudstream.emails.tokens import Payment
from fraudstream.resources import data_folder

# The customer emails, email_templates/ (fraudstream.resources).
TEMPLATE_DIR = Path(os.environ.get("FRAUDSTREAM_TEMPLATE_DIR", data_folder("email_templates")))
KINDS = {
    "CASH_IN": "cash deposit",
    "CASH_OUT": "cash withdrawal",
    "DEBIT": "debit",
    "PAYMENT": "payment",
    "TRANSFER": "transfer",
}

_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates are read once, not checked on disk for every email
)


def when(moment: datetime | int) -> str:
    """A time (or milliseconds since the epoch) as ``01 Jan 2026 at 00:00 UTC``."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment / 1000, UTC)
    return moment.astimezone(UTC).strftime("%d %b %Y at %H:%M UTC")


def payment_fields(payment: Payment, brand: Brand) -> dict[str, str]:
    """A payment as every email and page shows it: what, how much, when, to whom."""
    return {
        "kind": KINDS.get(payment.kind, payment.kind.lower()),
        "amount": brand.money(payment.amount),
        "when": when(payment.event_time),
        "counterparty": payment.counterparty,
    }


def payment_details(payment: Payment, transaction_id: str, brand: Brand) -> list[tuple[str, str]]:
    """The rows of the payment's table, in the fraud email and on its pages alike."""
    return _rows(payment_fields(payment, brand), transaction_id)


def _rows(fields: dict[str, str], transaction_id: str) -> list[tuple[str, str]]:
    """A row without a value (no counterparty) is left out."""
    rows = [
        ("Type", fields["kind"]),
        ("Amount", fields["amount"]),
        ("Date and time", fields["when"]),
        ("To", fields["counterparty"]),
        ("Reference", transaction_id),
    ]
    return [(label, value) for label, value in rows if value]


def transaction_fields(transaction: dict[str, Any], brand: Brand) -> dict[str, Any]:
    """What both emails show of a transaction record, formatted: single facts, the payment's
    table (``details``) and the balance rows (``balances``)."""
    payment = payment_fields(Payment.of(transaction), brand)
    balance_before = brand.money(float(transaction["oldbalanceOrg"]))
    balance_after = brand.money(float(transaction["newbalanceOrig"]))
    return {
        "customer": transaction["nameOrig"],
        "transaction_id": transaction["transaction_id"],
        **payment,
        "details": _rows(payment, transaction["transaction_id"]),
        "balances": [("Balance before", balance_before), ("Balance after", balance_after)],
    }


@dataclass(frozen=True)
class Letterhead:
    """Who an email is from: the sender, where replies go (None: the email invites none),
    and the brand it wears."""

    sender: str
    brand: Brand
    reply_to: str | None = None

    @cached_property
    def domain(self) -> str:
        """The sender's domain, under which its Message-IDs are made."""
        return (parseaddr(self.sender)[1] or self.sender).rpartition("@")[2]


@dataclass(frozen=True)
class Email:
    """A rendered email in its wire form, with the headers an email log shows."""

    sender: str
    recipient: str
    subject: str
    message_id: str
    data: bytes  # the whole message, as SMTP's DATA sends it


def render(
    template: str, subject: str, letterhead: Letterhead, recipient: str, **values: Any
) -> Email:
    """A multipart/alternative email from ``<template>.txt.j2`` and ``<template>.html.j2``.

    The message always has the same shape (two UTF-8 text parts), so it is
    written straight to its wire form: the consumers render every email they
    send, and building it with ``email.mime`` costs four times the CPU.
    Bodies are quoted-printable, readable in the raw message; non-ASCII
    headers are RFC 2047 encoded by ``email.header``.
    """
    check_address(recipient)  # the sender is checked once, with the settings
    context = {
        "subject": subject,
        "brand": letterhead.brand,
        "reply_to": letterhead.reply_to,
        **values,
    }
    message_id = make_msgid(domain=letterhead.domain)
    # Quoted-printable never writes "=_", so this boundary cannot occur in a body.
    boundary = f"=_{uuid.uuid4().hex}"
    wire = [
        f"{name}: {value}\r\n".encode()
        for name, value in _headers(subject, letterhead, recipient, message_id, boundary)
    ]
    for extension, subtype in (("txt", "plain"), ("html", "html")):
        body = _environment.get_template(f"{template}.{extension}.j2").render(context)
        wire += [f"\r\n--{boundary}\r\n".encode(), _PART_HEADERS[subtype], _quoted(body)]
    wire.append(f"\r\n--{boundary}--\r\n".encode())
    return Email(letterhead.sender, recipient, subject, message_id, b"".join(wire))


def _headers(
    subject: str, letterhead: Letterhead, recipient: str, message_id: str, boundary: str
) -> list[tuple[str, str]]:
    headers = [
        ("Subject", _header(subject)),
        ("From", _address_header(letterhead.sender)),
        ("To", _header(recipient)),
        ("Date", formatdate(usegmt=True)),  # "-0000" would mean "zone unknown"
        ("Message-ID", message_id),
        # RFC 3834: sent by a program, so that vacation responders do not answer it;
        # the second is what Microsoft Exchange reads for the same.
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
    ]
    if letterhead.reply_to is not None:
        headers.append(("Reply-To", _address_header(letterhead.reply_to)))
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative;\r\n boundary="{boundary}"'),  # folded
    ]
    return headers


_PART_HEADERS = {
    subtype: (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode()
    for subtype in ("plain", "html")
}


def _quoted(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends (lines of at most 76 characters)."""
    crlf = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return binascii.b2a_qp(crlf.encode(), istext=True)


def _address_header(value: str) -> str:
    """An address header: a display name outside ASCII encoded as a word of its own, the
    address left as it is, so that mail programs read ``Société <a@b>`` right."""
    _header(value)  # no line breaks
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address or value


def _header(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"an email header may not contain a line break: {value!r}")
    return value if value.isascii() else Header(value, "utf-8").encode()
