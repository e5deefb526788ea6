"""Signed confirmation tokens: which transaction, which answer, until when, and the payment
the customer is asked about (pure).

A token is ``<transaction_id>.<answer>.<expiry>.<payment>.<signature>``: the
payment base64url-encoded JSON (type, amount, time, counterparty), the
signature an HMAC-SHA256 over the rest with a secret key. Changing any part,
or using it after its expiry, makes ``verify`` refuse it. So the pages behind
a link can show what the customer answers about without looking it up, and
cannot be made to show anything the pipeline did not sign.

Tokens of the first release carry no payment (``<id>.<answer>.<expiry>.<signature>``);
they verify, with ``payment`` None, until they expire.

The answers customers give through those links carry a MAC of their own under the same
key (``answer_mac``): in the lake, and on the confirmation topic, so a reader can tell
an answer the confirmation service recorded from one planted by another writer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Answer(StrEnum):
    NOT_FRAUD = "not_fraud"  # "Yes, it was me"
    FRAUD = "fraud"  # "No, report fraud"


class InvalidTokenError(ValueError):
    """The token is malformed, tampered with, or expired."""


class ExpiredTokenError(InvalidTokenError):
    """The token was valid, until its expiry."""


@dataclass(frozen=True)
class Payment:
    """The payment a "was this you?" email asks about, as its pages show it."""

    kind: str  # PaySim's type: CASH_OUT, TRANSFER, ...
    amount: float
    event_time: int  # milliseconds since the epoch
    counterparty: str  # the other account; "" when there is none to show

    @classmethod
    def of(cls, transaction: dict[str, Any]) -> Payment:
        """The payment of a transaction record (its time a datetime, as Avro decodes it, or
        milliseconds)."""
        counterparty, moment = str(transaction["nameDest"]), transaction["event_time"]
        if isinstance(moment, datetime):
            moment = round(moment.timestamp() * 1000)
        return cls(
            kind=str(transaction["type"]),
            amount=float(transaction["amount"]),
            event_time=int(moment),
            counterparty="" if counterparty == transaction["nameOrig"] else counterparty,
        )


@dataclass(frozen=True)
class Confirmation:
    transaction_id: str
    answer: Answer
    expires_at: int  # seconds since the epoch
    payment: Payment | None = None  # None in the first release's tokens


def sign(confirmation: Confirmation, key: bytes) -> str:
    payload = _payload(confirmation)
    return f"{payload}.{_signature(payload, key)}"


def verify(token: str, key: bytes, now: float) -> Confirmation:
    """The confirmation a valid token carries; InvalidTokenError for anything else, whatever
    the token holds (ExpiredTokenError, a kind of it, for a good token out of date)."""
    payload, _, signature = token.rpartition(".")
    expected = _signature(payload, key).encode()
    # Compared as bytes: compare_digest refuses str with non-ASCII characters.
    if not payload or not hmac.compare_digest(signature.encode(errors="replace"), expected):
        raise InvalidTokenError("the link is not valid")
    transaction_id, answer, expires_at, *payment = payload.split(".")
    if now > int(expires_at):
        raise ExpiredTokenError("the link has expired")
    return Confirmation(
        transaction_id, Answer(answer), int(expires_at), _decode(payment[0]) if payment else None
    )


def _payload(confirmation: Confirmation) -> str:
    if not confirmation.transaction_id.isalnum() or not confirmation.transaction_id.isascii():
        raise ValueError(f"not a transaction id: {confirmation.transaction_id[:40]!r}")
    fields = [confirmation.transaction_id, confirmation.answer.value, str(confirmation.expires_at)]
    if confirmation.payment is not None:
        fields.append(_encode(confirmation.payment))
    return ".".join(fields)


def _encode(payment: Payment) -> str:
    values = [payment.kind, payment.amount, payment.event_time, payment.counterparty]
    data = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(encoded: str) -> Payment:
    # Signed by us, so well formed unless the key is shared with something else: refuse that.
    try:
        kind, amount, event_time, counterparty = json.loads(
            base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        )
        return Payment(str(kind), float(amount), int(event_time), str(counterparty))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidTokenError("the link is not valid") from None


def _signature(payload: str, key: bytes) -> str:
    digest = hmac.new(key, payload.encode(errors="replace"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# Recorded answers ---------------------------------------------------------------------

# What an answer's MAC covers; the confirmation service makes it when it records the
# answer, the republisher and the case consumer check it (the fraud consumer's VM holds
# the same key, to make the links).
ANSWER_FIELDS = ("transaction_id", "status", "answered_at")


def answer_mac(answer: dict[str, Any], key: bytes) -> str:
    """The MAC an answer recorded with ``key`` carries (hex SHA-256 HMAC)."""
    message = "|".join(["answer", *(str(answer[field]) for field in ANSWER_FIELDS)])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signed_record(record: dict[str, Any], key: bytes) -> bool:
    """Whether a decoded FraudConfirmation carries the MAC its answer was recorded with."""
    answered_at = record["answered_at"]
    if not isinstance(record.get("mac"), str) or not isinstance(answered_at, datetime):
        return False
    signed = {**record, "answered_at": answered_at.isoformat(timespec="milliseconds")}
    return hmac.compare_digest(record["mac"], answer_mac(signed, key))
