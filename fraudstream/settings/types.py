"""The kinds of value a setting can hold, each with its check: a port, a bucket or topic
name, an http(s) URL, a line of the brand; a bad value names what was expected."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from fraudstream.emails.addresses import check_address
from fraudstream.emails.branding import check_colour, check_currency, check_locale, check_logo_url

PositiveInt = Annotated[int, Field(gt=0)]


def _one_line(value: str) -> str:
    if any(character in value for character in "\r\n"):
        raise ValueError("write it on one line")
    return value


def _optional_address(value: str | None) -> str | None:
    return check_address(value) if value else None


# The brand's settings, each checked by fraudstream.emails.branding (an empty logo is none).
OneLine = Annotated[str, Field(min_length=1), AfterValidator(_one_line)]
OptionalAddress = Annotated[str | None, AfterValidator(_optional_address)]
LogoUrl = Annotated[str | None, AfterValidator(lambda url: check_logo_url(url or None))]
Colour = Annotated[str, AfterValidator(check_colour)]
Currency = Annotated[str, AfterValidator(check_currency)]
LocaleName = Annotated[str, AfterValidator(check_locale)]
Port = Annotated[int, Field(gt=0, lt=65536)]

# GCS bucket names: 3-63 characters of lower-case letters, digits, dashes,
# underscores and dots, starting and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
# Kafka topic names: at most 249 characters of letters, digits, '.', '_', '-'.
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


LATEST_START_YEAR = 9800
# A link older than a year is no answer to "was this you?".
MAX_TOKEN_TTL_HOURS = 24 * 366


def check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s):// URL, got {without_credentials(value)!r}")
    return value.rstrip("/")


def without_credentials(url: str) -> str:
    """``url`` with any user and password replaced, fit to show in an error."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{path}"


def _topic_name(value: str) -> str:
    if not _TOPIC_NAME.match(value) or value in {".", ".."}:
        raise ValueError(
            f"not a valid Kafka topic name: {value[:260]!r} (1-249 letters, digits, "
            "'.', '_' or '-', and not '.' or '..')"
        )
    return value


def _bucket_name(value: str) -> str:
    if not _BUCKET_NAME.match(value):
        raise ValueError(f"not a valid GCS bucket name: {value!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(check_http_url)]
TopicName = Annotated[str, AfterValidator(_topic_name)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
