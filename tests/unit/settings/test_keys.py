"""A signing key must be random bytes the deployment chose: placeholders and patterns are
refused."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time

import pytest

from fraudstream.settings.keys import check_random_key

# What the repository's example file once carried: anyone could sign links with them.
PRINTED_PLACEHOLDERS = [
    "change-me-to-32-or-more-random-characters",
    "change-me-too-32-or-more-random-characters",
]


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(32),
        base64.b64encode(os.urandom(32)).decode(),  # openssl rand -base64 32
        base64.b64encode(os.urandom(48)).decode().rstrip("="),
    ],
)
def test_random_bytes_in_base64_are_accepted(key: str) -> None:
    assert check_random_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        *[(placeholder, "placeholder") for placeholder in PRINTED_PLACEHOLDERS],
        ("k" * 43, "pattern"),
        (base64.b64encode(b"0123456789abcdef" * 2).decode(), "pattern"),
        (secrets.token_urlsafe(24), "too short"),
        ("correct horse battery staple, and more words!", "not base64"),
        (secrets.token_urlsafe(32) + "é", "not base64"),
    ],
)
def test_placeholders_patterns_and_short_keys_are_refused(key: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        check_random_key(key)
    assert "secrets.token_urlsafe(32)" in str(refused.value)  # says what is accepted


@pytest.mark.parametrize("key", PRINTED_PLACEHOLDERS)
def test_the_service_given_an_example_key_exits_at_once_naming_the_setting(key: str) -> None:
    environment = {
        **os.environ,
        "CONFIRMATION_TOKEN_KEY": key,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fraudstream", "confirmation-service"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0
    assert len(lines) == 1 and "CONFIRMATION_TOKEN_KEY" in lines[0] and "placeholder" in lines[0]
    assert time.monotonic() - started < 30  # it did not wait for Kafka first
