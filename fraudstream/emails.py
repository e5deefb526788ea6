"""Customer emails rendered from ``email_templates/`` (pure: values in, a message out).

Each email is a pair of templates, ``<name>.txt.j2`` and ``<name>.html.j2``,
sent as one multipart/alternative message. HTML is autoescaped; amounts and
times are formatted for people before they reach a template.
"""

from __future__ import annotations

import binascii
import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from fraudstream.addresses import check_address

TEMPLATE_DIR = Path(
    os.environ.get(
        "FRAUDSTREAM_TEMPLATE_DIR", Path(__file__).resolve().parent.parent / "email_templates"
    )
)
KINDS = {
    "CASH_IN": "cash deposit", "CASH_OUT": "cash withdrawal", "DEBIT": "debit",
    "PAYMENT": "payment", "TRANSFER": "transfer",
}  # fmt: skip

_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,  # templates are read once, not checked on disk for every email
)


def money(amount: float, currency: str = "USD") -> str:
    """``1234567.5`` -> ``USD 1,234,567.50``; ValueError for what is not an amount
    (infinite, not a number): no customer is told they paid "USD inf"."""
    if not math.isfinite(amount):
        raise ValueError(f"not an amount of money: {amount}")
    return f"{currency} {amount:,.2f}"


def when(moment: datetime | int) -> str:
    """A time (or milliseconds since the epoch) as ``01 Jan 2026 at 00:00 UTC``."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment / 1000, UTC)
    return moment.astimezone(UTC).strftime("%d %b %Y at %H:%M UTC")


def transaction_fields(transaction: dict[str, Any]) -> dict[str, Any]:
    """What both emails show of a transaction record, formatted."""
    destination = str(transaction["nameDest"])
    return {
        "customer": transaction["nameOrig"],
        "transaction_id": transaction["transaction_id"],
        "kind": KINDS[str(transaction["type"])],
        "amount": money(float(transaction["amount"])),
        "when": when(transaction["event_time"]),
        "counterparty": destination if destination != transaction["nameOrig"] else "",
        "balance_before": money(float(transaction["oldbalanceOrg"])),
        "balance_after": money(float(transaction["newbalanceOrig"])),
    }


@dataclass(frozen=True)
class Email:
    """A rendered email in its wire form, with the headers an email log shows."""

    sender: str
    recipient: str
    subject: str
    message_id: str
    data: bytes  # the whole message, as SMTP's DATA sends it


def render(template: str, subject: str, sender: str, recipient: str, **values: Any) -> Email:
    """A multipart/alternative email from ``<template>.txt.j2`` and ``<template>.html.j2``.

    The message always has the same shape (two UTF-8 text parts), so it is
    written straight to its wire form: the consumers render every email they
    send, and building it with ``email.mime`` costs four times the CPU.
    Bodies are quoted-printable, readable in the raw message; non-ASCII
    headers are RFC 2047 encoded by ``email.header``.
    """
    check_address(recipient)  # the sender is checked once, with the settings
    context = {"subject": subject, **values}
    message_id = make_msgid(domain=sender.rpartition("@")[2].rstrip(">") or None)
    # Quoted-printable never writes "=_", so this boundary cannot occur in a body.
    boundary = f"=_{uuid.uuid4().hex}"
    headers = {
        "Subject": _header(subject),
        "From": _header(sender),
        "To": _header(recipient),
        "Date": formatdate(localtime=False),
        "Message-ID": message_id,
        "MIME-Version": "1.0",
        "Content-Type": f'multipart/alternative;\r\n boundary="{boundary}"',  # folded
    }
    wire = [f"{name}: {value}\r\n".encode() for name, value in headers.items()]
    for extension, subtype in (("txt", "plain"), ("html", "html")):
        body = _environment.get_template(f"{template}.{extension}.j2").render(context)
        wire += [f"\r\n--{boundary}\r\n".encode(), _PART_HEADERS[subtype], _quoted(body)]
    wire.append(f"\r\n--{boundary}--\r\n".encode())
    return Email(sender, recipient, subject, message_id, b"".join(wire))


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


def _header(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"an email header may not contain a line break: {value!r}")
    return value if value.isascii() else Header(value, "utf-8").encode()
