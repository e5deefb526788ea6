"""Customer emails rendered from ``email_templates/`` (pure: values in, a message out).

Each email is a pair of templates, ``<name>.txt.j2`` and ``<name>.html.j2``,
sent as one multipart/alternative message. HTML is autoescaped; amounts and
times are formatted for people before they reach a template.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

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
)


def money(amount: float, currency: str = "USD") -> str:
    """``1234567.5`` -> ``USD 1,234,567.50``."""
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


def render(template: str, subject: str, sender: str, recipient: str, **values: Any) -> EmailMessage:
    """A multipart message from ``<template>.txt.j2`` and ``<template>.html.j2``."""
    context = {"subject": subject, **values}
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(_environment.get_template(f"{template}.txt.j2").render(context))
    message.add_alternative(
        _environment.get_template(f"{template}.html.j2").render(context), subtype="html"
    )
    return message
