"""The mail catcher is real: a message sent over SMTP is read back through its HTTP API."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage

from tests.integration.conftest import Stack
from tests.integration.mail_reading import delivered


def test_email_sent_over_smtp_is_delivered(stack: Stack) -> None:
    subject = f"Transaction notice {uuid.uuid4().hex[:8]}"
    message = EmailMessage()
    message["From"] = "alerts@fraudstream.example"
    message["To"] = "C1231006815@customers.fraudstream.example"
    message["Subject"] = subject
    message.set_content("You paid 9,839.64 to M1979787155.")
    message.add_alternative("<p>You paid <b>9,839.64</b> to M1979787155.</p>", subtype="html")

    with smtplib.SMTP(stack.smtp_host, stack.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(message)
    assert refused == {}

    message_read = delivered(stack.mail_api_url, subject)
    assert [to["address"] for to in message_read["to"]] == [  # type: ignore[attr-defined]
        "C1231006815@customers.fraudstream.example"
    ]
    assert "9,839.64" in str(message_read["text"])
    assert "<b>9,839.64</b>" in str(message_read["html"])
