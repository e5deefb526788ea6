"""What each consumer does with a record: the email it sends and the lake record it writes."""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any, Protocol

from consumers.mailer import EmailJob
from fraudstream.config import Settings, token_key
from fraudstream.emails import render, transaction_fields, when
from fraudstream.tokens import Answer, Confirmation, sign
from fraudstream.topology import LakeFolder


class Handler(Protocol):
    """One consumer's part: its lake folder, its email, its lake record."""

    folder: LakeFolder
    template: str
    topic: str
    group: str

    def email(self, transaction: dict[str, Any], source: dict[str, Any]) -> EmailJob: ...

    def lake_record(self, transaction: dict[str, Any]) -> dict[str, Any]: ...


class NotifyCustomer:
    """Non-fraud transactions: a notification email; the transaction into the lake."""

    folder = LakeFolder.TRANSACTIONS
    template = "transaction_notification"

    def __init__(self, settings: Settings) -> None:
        self.sender = settings.mail_from
        self.topic, self.group = settings.non_fraud_topic, settings.non_fraud_consumer_group

    def email(self, transaction: dict[str, Any], source: dict[str, Any]) -> EmailJob:
        fields = transaction_fields(transaction)
        subject = f"Your {fields['kind']} of {fields['amount']}"
        email = render(self.template, subject, self.sender, transaction["customer_email"], **fields)
        return EmailJob(transaction["transaction_id"], self.template, email, source)

    def lake_record(self, transaction: dict[str, Any]) -> dict[str, Any]:
        return transaction


class AskCustomer:
    """Fraud transactions: a "was this you?" email with signed answer links, and the
    transaction into the fraud cases folder as pending until the customer answers."""

    folder = LakeFolder.FRAUD_CASES
    template = "fraud_confirmation_request"

    def __init__(self, settings: Settings) -> None:
        self.sender = settings.mail_from
        self.topic, self.group = settings.fraud_topic, settings.fraud_consumer_group
        self.key = token_key(settings)
        self.base_url = settings.confirmation_base_url
        self.ttl_seconds = settings.confirmation_token_ttl_hours * 3600

    def email(self, transaction: dict[str, Any], source: dict[str, Any]) -> EmailJob:
        fields = transaction_fields(transaction)
        expires_at = int(time.time()) + self.ttl_seconds
        links = {
            "yes_url": self.link(transaction["transaction_id"], Answer.NOT_FRAUD, expires_at),
            "no_url": self.link(transaction["transaction_id"], Answer.FRAUD, expires_at),
        }
        subject = f"Was this you? A {fields['kind']} of {fields['amount']}"
        email = render(
            self.template, subject, self.sender, transaction["customer_email"],
            expires=when(datetime.fromtimestamp(expires_at, UTC)), **links, **fields,
        )  # fmt: skip
        return EmailJob(transaction["transaction_id"], self.template, email, source)

    def link(self, transaction_id: str, answer: Answer, expires_at: int) -> str:
        token = sign(Confirmation(transaction_id, answer, expires_at), self.key)
        return f"{self.base_url}/confirm?{urllib.parse.urlencode({'token': token})}"

    def lake_record(self, transaction: dict[str, Any]) -> dict[str, Any]:
        return {**transaction, "status": "pending"}
