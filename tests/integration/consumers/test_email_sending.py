"""Rendered emails through the persistent SMTP sender, read back from the real mail catcher."""

from __future__ import annotations

import uuid

import pytest

from fraudstream.emails.messages import render, transaction_fields
from fraudstream.emails.smtp import MailError, SmtpSender
from tests.integration.conftest import Stack, free_port
from tests.integration.mail_reading import delivered
from tests.unit.emails.test_messages import BRAND, LETTERHEAD, TRANSACTION


def test_many_messages_over_one_connection_arrive(stack: Stack) -> None:
    subjects = [f"Your transfer {uuid.uuid4().hex[:8]}" for _ in range(5)]
    connections = set()
    with SmtpSender(stack.smtp_host, stack.smtp_port) as sender:
        for subject in subjects:
            sender.send(
                render(
                    "transaction_notification",
                    subject,
                    LETTERHEAD,
                    "C1305486145@customers.example",
                    **transaction_fields(TRANSACTION, BRAND),
                )
            )
            connections.add(id(sender._smtp))
    assert len(connections) == 1
    for subject in subjects:
        message = delivered(stack.mail_api_url, subject)
        assert "$92,445,516.64" in str(message["text"])
        assert "<strong>$92,445,516.64</strong>" in str(message["html"])


def test_a_server_that_is_down_is_a_clear_error() -> None:
    port = free_port()  # a loopback port nobody listens on
    message = render(
        "transaction_notification",
        "x",
        LETTERHEAD,
        "b@example.org",
        **transaction_fields(TRANSACTION, BRAND),
    )
    with (
        SmtpSender("127.0.0.1", port, timeout=2) as sender,
        pytest.raises(MailError, match=str(port)),
    ):
        sender.send(message)
