"""What a signing key must be before a service will use it (pure).

A key is accepted when it is the base64 text (standard or URL-safe alphabet,
padding optional) of at least 32 random bytes: what
``python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`` or
``openssl rand -base64 32`` prints. A key that reads as a placeholder, or
whose bytes repeat like a pattern rather than vary like random ones, is
refused: a key anyone has read in a repository lets anyone sign links.
"""

from __future__ import annotations

import base64
import binascii
import re

MIN_KEY_BYTES = 32
# 32 random bytes hold about 30 different values; fewer than 20 is a pattern.
_MIN_DISTINCT_BYTES = 20
_PLACEHOLDER_WORDS = ("change", "example", "placeholder", "secret", "password", "replace")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
HOW_TO_MAKE = (
    f"at least {MIN_KEY_BYTES} random bytes, base64: "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def check_random_key(value: str) -> str:
    """``value`` when it is a key of random bytes as described above; ValueError otherwise."""
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        raise ValueError(f"this is a placeholder, not a key; use {HOW_TO_MAKE}")
    raw = _decoded(value)
    if raw is None:
        raise ValueError(f"not base64; use {HOW_TO_MAKE}")
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"{len(raw)} bytes is too short; use {HOW_TO_MAKE}")
    if len(set(raw)) < _MIN_DISTINCT_BYTES:
        raise ValueError(f"its bytes repeat like a pattern, not random ones; use {HOW_TO_MAKE}")
    return value


def _decoded(value: str) -> bytes | None:
    if not _BASE64.fullmatch(value):
        return None
    standard = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        return None
