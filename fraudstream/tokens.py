"""Signed confirmation tokens: which transaction, which answer, until when (pure).

A token is ``<transaction_id>.<answer>.<expiry>.<signature>``, the signature
an HMAC-SHA256 over the rest with a secret key. Changing any part, or using
it after its expiry, makes ``verify`` refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum


class Answer(StrEnum):
    NOT_FRAUD = "not_fraud"  # "Yes, it was me"
    FRAUD = "fraud"  # "No, report fraud"


class InvalidTokenError(ValueError):
    """The token is malformed, tampered with, or expired."""


class ExpiredTokenError(InvalidTokenError):
    """The token was valid, until its expiry."""


@dataclass(frozen=True)
class Confirmation:
    transaction_id: str
    answer: Answer
    expires_at: int  # seconds since the epoch


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
    transaction_id, answer, expires_at = payload.split(".")
    if now > int(expires_at):
        raise ExpiredTokenError("the link has expired")
    return Confirmation(transaction_id, Answer(answer), int(expires_at))


def _payload(confirmation: Confirmation) -> str:
    if not confirmation.transaction_id.isalnum() or not confirmation.transaction_id.isascii():
        raise ValueError(f"not a transaction id: {confirmation.transaction_id[:40]!r}")
    return f"{confirmation.transaction_id}.{confirmation.answer.value}.{confirmation.expires_at}"


def _signature(payload: str, key: bytes) -> str:
    digest = hmac.new(key, payload.encode(errors="replace"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
