"""Whatever a record holds, the consumer's handlers and mailer give it one outcome (sent,
rejected or dead-lettered) and never let an exception out of the batch.

Emails go through the real ``SmtpSender`` and smtplib's own command encoding, over a
loopback stand-in for the server socket, so an address smtplib cannot put on the
wire fails here as it would against a real server.
"""

from __future__ import annotations

import math
import secrets
import smtplib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream.consumers.email_sending import Mailer
from fraudstream.consumers.handlers import AskCustomer, Handler, NotifyCustomer
from fraudstream.consumers.retry import Backoff, Waiter
from fraudstream.consumers.sinks import CustomerEmails, lake_lines
from fraudstream.emails.smtp import SmtpSender
from fraudstream.settings.config import load_settings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class LoopbackSMTP(smtplib.SMTP):
    """smtplib with the socket replaced: commands are encoded as smtplib encodes them,
    then answered 250 (354 after DATA) without a network."""

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        super().__init__()
        self._last = ""

    def send(self, s: ReadableBuffer | str) -> None:
        data = s.encode(self.command_encoding) if isinstance(s, str) else bytes(s)
        self._last = data[:4].decode("ascii", errors="replace").lower()

    def getreply(self) -> tuple[int, bytes]:
        return (354, b"go ahead") if self._last == "data" else (250, b"ok")

    def quit(self) -> tuple[int, bytes]:
        return 221, b"bye"


SETTINGS = load_settings(confirmation_token_key=secrets.token_urlsafe(32))
HANDLERS: list[Handler] = [NotifyCustomer(SETTINGS), AskCustomer(SETTINGS)]

_ADDRESS = st.one_of(
    st.emails(),
    st.sampled_from(["jörg@bank.example", "c3@bücher.example", "a@b.example\r\nBcc: x@y.z"]),
    st.text(max_size=30),
)
_TRANSACTION = st.fixed_dictionaries(
    {
        "transaction_id": st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
        "step": st.integers(1, 743),
        "event_time": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
        "type": st.sampled_from(["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"]),
        "amount": st.floats(allow_nan=True, allow_infinity=True),
        "nameOrig": st.text(max_size=12),
        "oldbalanceOrg": st.floats(0, 1e12),
        "newbalanceOrig": st.floats(0, 1e12),
        "nameDest": st.text(max_size=12),
        "oldbalanceDest": st.floats(0, 1e12),
        "newbalanceDest": st.floats(0, 1e12),
        "isFraud": st.booleans(),
        "isFlaggedFraud": st.booleans(),
        "customer_email": _ADDRESS,
    }
)
# A record under another schema: the answers' shape, or anything at all.
_FOREIGN = st.one_of(
    st.fixed_dictionaries(
        {"transaction_id": st.text(max_size=16), "status": st.text(), "answered_at": st.datetimes()}
    ),
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(), st.binary(), st.integers())),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(st.one_of(_TRANSACTION, _TRANSACTION, _FOREIGN), max_size=12),
    handler_index=st.integers(0, 1),
)
def test_every_record_gets_one_outcome_and_the_batch_goes_on(
    records: list[dict[str, Any]], handler_index: int
) -> None:
    handler = HANDLERS[handler_index]
    offsets = list(range(len(records)))
    waiter = Waiter(lambda _seconds: None, lambda: False, Backoff(0.001, 0.001))
    with mock.patch("smtplib.SMTP", LoopbackSMTP):
        mailer = Mailer(lambda: SmtpSender("127.0.0.1", 25), connections=2)
        try:
            outcome = CustomerEmails(mailer, handler, waiter).send(("t", 0), records, offsets, {})
        finally:
            mailer.close()
    failed = {index for index, _ in outcome.failed}
    lines, unfit = lake_lines(handler, records, skip=failed)

    assert len(outcome.entries) + len(failed) == len(records)
    entries = iter(outcome.entries)  # in the order of the records they are about
    for index, record in enumerate(records):
        if index in failed:
            continue
        entry = next(entries)
        assert entry["transaction_id"] == record["transaction_id"]
        assert entry["status"] in {"sent", "rejected"}
        assert entry["status"] == "rejected" or _sendable(record), entry
        assert entry["status"] == "sent" or entry["error"]
    assert len(lines) + len(unfit) + len(failed) == len(records)
    assert not failed & {index for index, _ in unfit}


def _sendable(record: dict[str, Any]) -> bool:
    address = str(record["customer_email"])
    return (
        address.isascii()
        and "\r" not in address
        and "\n" not in address
        and (not isinstance(record.get("amount"), float) or math.isfinite(record["amount"]))
    )
