"""The mail catcher as the consumers see it: an email rendered by
``fraudstream.emails.messages`` and sent by ``fraudstream.emails.smtp``
arrives whole, its headers as we wrote them."""

from __future__ import annotations

import uuid
from email.utils import parsedate_to_datetime
from typing import cast

from fraudstream.emails.messages import Letterhead, render, transaction_fields
from fraudstream.emails.smtp import SmtpSender
from tests.integration.conftest import Stack
from tests.integration.mail_reading import delivered
from tests.unit.emails.test_messages import BRAND, TRANSACTION


def test_a_rendered_email_arrives_with_its_headers_and_both_parts(stack: Stack) -> None:
    subject = f"Ihre Überweisung {uuid.uuid4().hex[:8]}"  # non-ASCII: RFC 2047 on the wire
    letterhead = Letterhead("Fraudstream Bank <alerts@bank.example>", BRAND, "help@bank.example")
    email = render(
        "transaction_notification",
        subject,
        letterhead,
        "C1231006815@customers.fraudstream.example",
        **transaction_fields(TRANSACTION, BRAND),
    )
    with SmtpSender(stack.smtp_host, stack.smtp_port, timeout=10) as sender:
        sender.send(email)

    message = delivered(stack.mail_api_url, subject)
    assert [to["address"] for to in message["to"]] == [email.recipient]  # type: ignore[attr-defined]
    assert message["messageId"] == email.message_id.strip("<>")
    assert "$92,445,516.64" in str(message["text"])
    assert "<strong>$92,445,516.64</strong>" in str(message["html"])
    headers = cast(dict[str, str], message["headers"])
    assert headers["auto-submitted"] == "auto-generated"
    assert headers["reply-to"] == "help@bank.example"
    assert headers["message-id"].endswith("@bank.example>")
    assert parsedate_to_datetime(headers["date"]).tzinfo is not None
