"""What each consumer does with a record: the email it sends and the lake record it writes."""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from fraudstream.consumers.email_sending import EmailJob
from fraudstream.emails.messages import Letterhead, render, transaction_fields, when
from fraudstream.emails.tokens import Answer, Confirmation, Payment, sign
from fraudstream.settings.config import Settings, token_key
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
        self.letterhead = letterhead(settings)
        self.topic, self.group = settings.non_fraud_topic, settings.non_fraud_consumer_group

    def email(self, transaction: dict[str, Any], source: dict[str, Any]) -> EmailJob:
        fields = transaction_fields(transaction, self.letterhead.brand)
        subject = f"Your {fields['kind']} of {fields['amount']}"
        email = render(
            self.template, subject, self.letterhead, transaction["customer_email"], **fields
        )
        return EmailJob(transaction["transaction_id"], self.template, email, source)

    def lake_record(self, transaction: dict[str, Any]) -> dict[str, Any]:
        return transaction


class AskCustomer:
    """Fraud transactions: a "was this you?" email with signed answer links, and the
    transaction into the fraud cases folder as pending until the customer answers."""

    folder = LakeFolder.FRAUD_CASES
    template = "fraud_confirmation_request"

    def __init__(self, settings: Settings) -> None:
        self.letterhead = letterhead(settings)
        self.topic, self.group = settings.fraud_topic, settings.fraud_consumer_group
        self.key = token_key(settings)
        self.base_url = settings.confirmation_base_url
        self.ttl_seconds = settings.confirmation_token_ttl_hours * 3600

    def email(self, transaction: dict[str, Any], source: dict[str, Any]) -> EmailJob:
        fields = transaction_fields(transaction, self.letterhead.brand)
        expires_at = int(time.time()) + self.ttl_seconds
        asked = partial(
            Confirmation,
            transaction["transaction_id"],
            expires_at=expires_at,
            payment=Payment.of(transaction),
        )
        links = {
            "yes_url": self.link(asked(Answer.NOT_FRAUD)),
            "no_url": self.link(asked(Answer.FRAUD)),
        }
        subject = f"Was this you? A {fields['kind']} of {fields['amount']}"
        email = render(
            self.template,
            subject,
            self.letterhead,
            transaction["customer_email"],
            expires=when(datetime.fromtimestamp(expires_at, UTC)),
            **links,
            **fields,
        )
        return EmailJob(transaction["transaction_id"], self.template, email, source)

    def link(self, confirmation: Confirmation) -> str:
        """The address that answers ``confirmation``: the payment and answer signed in it."""
        token = sign(confirmation, self.key)
        return f"{self.base_url}/confirm?{urllib.parse.urlencode({'token': token})}"

    def lake_record(self, transaction: dict[str, Any]) -> dict[str, Any]:
        return {**transaction, "status": "pending"}


def letterhead(settings: Settings) -> Letterhead:
    """Who the customer emails are from, and the brand they wear."""
    return Letterhead(settings.mail_from, settings.brand(), settings.mail_reply_to)
