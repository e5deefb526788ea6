"""The PaySim CSV format: its columns and types, the limits a row must keep, the
pattern a good line matches, field by field, and how PaySim prints a number."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from fraudstream.errors import PermanentError

COLUMNS = (
    "step",
    "type",
    "amount",
    "nameOrig",
    "oldbalanceOrg",
    "newbalanceOrig",
    "nameDest",
    "oldbalanceDest",
    "newbalanceDest",
    "isFraud",
    "isFlaggedFraud",
)
HEADER = ",".join(COLUMNS)
TYPES = ("CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER")
MONEY = ("amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest")
FLAGS = ("isFraud", "isFlaggedFraud")
HOUR_MS = 3_600_000
# PaySim has 743 steps (hours); a million is 114 years, which keeps every
# event time representable from any EVENT_START_TIME before the year 9800.
MAX_STEP = 1_000_000
# A PaySim line is about 100 bytes; anything this long is not one.
MAX_LINE_BYTES = 64 * 1024
# What a rejected row carries of its text, and of a value in its reason.
MAX_REJECTED_TEXT = 1_000
MAX_VALUE_SHOWN = 100

NUMBER_PATTERN = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
NEGATIVE_PATTERN = r"^-[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
STEP_PATTERN = r"^[0-9]{1,9}$"
ZERO_PATTERN = r"^0+(\.0+)?([eE][+-]?[0-9]+)?$"
NAME_PATTERN = r"^[CM][0-9]{1,10}$"
FLAG_TEXTS = ("0", "1", "0.0", "1.0")
FLAG_VALUES = pa.array(FLAG_TEXTS)


def _one_of(texts: tuple[str, ...]) -> str:
    return "(" + "|".join(re.escape(text) for text in texts) + ")"


# A whole line that passes every column check (``_checks``), field by field, and its end.
FIELD_PATTERNS = {
    "step": STEP_PATTERN,
    "type": _one_of(TYPES),
    **dict.fromkeys(MONEY, NUMBER_PATTERN),
    "nameOrig": NAME_PATTERN,
    "nameDest": NAME_PATTERN,
    **dict.fromkeys(FLAGS, _one_of(FLAG_TEXTS)),
}
GOOD_LINE = "^" + ",".join(FIELD_PATTERNS[name].strip("^$") for name in COLUMNS) + r"\r?\n$"
TRUE_VALUES = pa.array(["1", "1.0"])


class NotPaySimError(PermanentError, ValueError):
    """The file is not a PaySim CSV (its header is missing or different)."""


def check_header(line: str) -> None:
    """Raise NotPaySimError unless ``line`` is PaySim's header."""
    if line.strip() != HEADER:
        raise NotPaySimError(
            f"not a PaySim CSV: the first line is {line.strip()[:200]!r}, expected {HEADER!r}"
        )


@dataclass(frozen=True)
class Rejected:
    """A row that failed validation, with where it was and why.

    ``text`` is the row as read, cut to ``MAX_REJECTED_TEXT`` characters;
    ``length`` is how long it was, so a cut shows.
    """

    line: int
    reason: str
    text: str
    length: int

    @classmethod
    def of(cls, line: int, reason: str, text: str) -> Rejected:
        return cls(line, reason, text[:MAX_REJECTED_TEXT], len(text))

    @property
    def truncated(self) -> bool:
        return self.length > len(self.text)


def java_double(value: float) -> str:
    """How PaySim (Java's Double.toString) prints a number: 181.0, 9839.64, 1.916920493E7."""
    if value == 0:
        return "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    power = len(digits) - 1 + exponent
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{power}"
