"""The command line's argument types and help: numbers as people write them, refused with
what a good one looks like; each option's default shown; the settings and the exit codes
after every command's options."""

from __future__ import annotations

import argparse
import importlib.metadata
from datetime import UTC, datetime
from typing import Any

from fraudstream.paysim.source import Shard


def version() -> str:
    try:
        return importlib.metadata.version("fraudstream")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number above 0 such as 10000 or 10_000, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text}")
    return value


def shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number above 0 such as 300 or 2.5, got {text!r}"
        ) from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def moment(text: str) -> datetime:
    """An ISO 8601 time; UTC unless it gives its offset."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-12-06T09:30 or 2026-12-06T09:30+01:00, "
            f"got {text!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


SETTINGS_EPILOG = (
    "Settings come from environment variables, or a .env file in the working folder: "
    "KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, LAKE_BUCKET, SMTP_HOST, "
    "CONFIRMATION_TOKEN_KEY and the others docs/configuration.md lists. "
    'eval "$(python -m fraudstream.devstack env)" points them at the local stack. '
    "Exit codes: 0 done; 1 a failure (a server, a file, a record); 2 a setting or an "
    "argument that cannot work; 130 interrupted (Ctrl-C)."
)


class ShowsDefaults(argparse.HelpFormatter):
    """Help that gives each option's default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        switch = isinstance(action, argparse._StoreConstAction)  # a flag: its absence says it
        if switch or default in (None, False, argparse.SUPPRESS) or "default" in text or not text:
            return text
        return f"{text} (default: {default})"


class CommandParser(argparse.ArgumentParser):
    """Each command's parser: its defaults shown, the settings' epilog."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("formatter_class", ShowsDefaults)
        options.setdefault("epilog", SETTINGS_EPILOG)
        super().__init__(**options)
