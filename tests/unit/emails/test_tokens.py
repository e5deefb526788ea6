from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraudstream.emails.tokens import Answer, Confirmation, InvalidTokenError, Payment, sign, verify

KEY = b"k" * 32
CONFIRMATION = Confirmation("3f1c0ad2e9b84c11", Answer.FRAUD, expires_at=2_000_000_000)


def test_a_signed_token_verifies_to_what_it_carries() -> None:
    assert verify(sign(CONFIRMATION, KEY), KEY, now=1_900_000_000) == CONFIRMATION


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(".fraud.", ".not_fraud."),
        lambda t: t.replace("3f1c", "3f1d"),
        lambda t: t.replace("2000000000", "2100000000"),
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "garbage",
        lambda t: "",
    ],
)
def test_a_changed_token_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidTokenError):
        verify(tamper(sign(CONFIRMATION, KEY)), KEY, now=1_900_000_000)


def test_another_key_or_a_late_click_is_refused() -> None:
    token = sign(CONFIRMATION, KEY)
    with pytest.raises(InvalidTokenError, match="not valid"):
        verify(token, b"x" * 32, now=1_900_000_000)
    with pytest.raises(InvalidTokenError, match="expired"):
        verify(token, KEY, now=2_000_000_001)


PAYMENT = Payment("TRANSFER", 181.0, 1_767_225_600_000, "C553264065")
WITH_PAYMENT = Confirmation("3f1c0ad2e9b84c11", Answer.FRAUD, 2_000_000_000, PAYMENT)


def test_a_token_carries_the_payment_signed() -> None:
    token = sign(WITH_PAYMENT, KEY)
    assert verify(token, KEY, now=1_900_000_000) == WITH_PAYMENT
    odd = Confirmation("a1", Answer.NOT_FRAUD, 2_000_000_000, Payment("CASH_OUT", 0.1, 0, "Zoë."))
    assert verify(sign(odd, KEY), KEY, now=1_900_000_000) == odd
    assert len(token) < 200  # a link a mail client shows whole


def test_a_changed_payment_is_refused() -> None:
    token = sign(WITH_PAYMENT, KEY)
    payload, signature = token.rsplit(".", 1)
    richer = sign(
        Confirmation(
            "3f1c0ad2e9b84c11",
            Answer.FRAUD,
            2_000_000_000,
            Payment("TRANSFER", 18.1, 1_767_225_600_000, "C553264065"),
        ),
        KEY,
    )
    forged = f"{richer.rsplit('.', 1)[0]}.{signature}"  # another payment, the first signature
    with pytest.raises(InvalidTokenError):
        verify(forged, KEY, now=1_900_000_000)
    with pytest.raises(InvalidTokenError):
        verify(f"{payload.rsplit('.', 1)[0]}.{signature}", KEY, now=1_900_000_000)  # dropped


def test_a_first_release_token_still_verifies_without_a_payment() -> None:
    old = sign(CONFIRMATION, KEY)
    assert old.count(".") == 3
    assert verify(old, KEY, now=1_900_000_000).payment is None


def test_a_payment_is_read_from_a_record_as_avro_decodes_it() -> None:
    record = {
        "type": "TRANSFER",
        "amount": 181.0,
        "nameOrig": "C1",
        "nameDest": "C553264065",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert Payment.of(record) == PAYMENT
    assert Payment.of({**record, "event_time": 1_767_225_600_000}) == PAYMENT
    assert Payment.of({**record, "nameDest": "C1"}).counterparty == ""  # to oneself: none shown
