from __future__ import annotations

import pytest

from fraudstream.tokens import Answer, Confirmation, InvalidTokenError, sign, verify

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
