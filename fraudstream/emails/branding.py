"""Whose name the customer reads, and how money looks: one brand for every email and page (pure).

A deployment rebrands by settings, not by editing templates: the bank's name,
a logo address, the support contact, an accent colour, the currency and the
locale its amounts are written in. Every template reads them from ``brand``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    UnknownCurrencyError,
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    validate_currency,
)

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# WCAG 2.x level AA for normal text: the buttons' white text on the accent colour.
MIN_CONTRAST = 4.5


@dataclass(frozen=True)
class Brand:
    bank_name: str
    support_contact: str  # how a customer reaches a person
    logo_url: str | None = None  # https://, shown above the bank's name
    colour: str = "#0b4f8a"  # accents and buttons, under white text
    currency: str = "USD"  # ISO 4217
    locale: str = "en_US"  # how amounts are written: $1,234.50, 1.234,50 €, ₹1,23,450.00
    _format: Callable[[float], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        locale = parse_locale(self.locale)
        check_currency(self.currency)
        object.__setattr__(self, "_format", money_format(locale, self.currency))

    def money(self, amount: float) -> str:
        """``1234567.5`` -> ``$1,234,567.50`` (for USD in en_US); ValueError for what is not
        an amount (infinite, not a number): no customer is told they paid "$inf"."""
        if not math.isfinite(amount):
            raise ValueError(f"not an amount of money: {amount}")
        return self._format(amount)


# Amounts Babel's format and ours must write alike before ours is used.
_PROBES = (0.0, 0.5, 1.0, 999.99, 1000.0, 1234567.25, 92445516.64, 10_000_000.0, -1.5, -1234.56)


def money_format(locale: Locale, currency: str) -> Callable[[float], str]:
    """How ``locale`` writes amounts of ``currency``: Babel's CLDR rules, done with str.format.

    Babel's format_currency is about ten times slower (BENCHMARKS.md, "Writing
    an amount"), and a notification shows three amounts. So where the locale groups
    digits by thousands, the symbols and separators are taken from Babel once
    and the number is written by Python; it is used only if it writes a set
    of probe amounts exactly as Babel does, else Babel formats every amount.
    """

    def by_babel(amount: float) -> str:
        return format_currency(amount, currency, locale=locale)

    pattern = locale.currency_formats["standard"]
    if pattern is None or pattern.grouping != (3, 3):
        return by_babel  # e.g. en_IN's lakh grouping, 12,34,567.00
    symbol = get_currency_symbol(currency, locale)
    prefixes = [prefix.replace("¤", symbol) for prefix in pattern.prefix]
    suffixes = [suffix.replace("¤", symbol) for suffix in pattern.suffix]
    separators = str.maketrans({",": get_group_symbol(locale), ".": get_decimal_symbol(locale)})
    digits = get_currency_precision(currency)

    def by_format(amount: float) -> str:
        sign = int(amount < 0)
        number = f"{abs(amount):,.{digits}f}".translate(separators)
        return f"{prefixes[sign]}{number}{suffixes[sign]}"

    if all(by_format(probe) == by_babel(probe) for probe in _PROBES):
        return by_format
    return by_babel


def parse_locale(name: str) -> Locale:
    """The locale ``en_US`` (or ``en-US``) names; ValueError naming it when there is none."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"not a locale: {name!r} (for example en_US, de_DE, en_IN)") from None


def check_locale(name: str) -> str:
    parse_locale(name)
    return name


def check_currency(code: str) -> str:
    try:
        validate_currency(code)
    except UnknownCurrencyError:
        raise ValueError(f"not an ISO 4217 currency code: {code!r} (for example USD)") from None
    return code


def check_colour(colour: str) -> str:
    """``colour`` (``#rrggbb``) if white text on it is readable (WCAG AA); ValueError if not."""
    if not _COLOUR.match(colour):
        raise ValueError(f"expected a colour as #rrggbb, got {colour!r}")
    ratio = contrast_with_white(colour)
    if ratio < MIN_CONTRAST:
        raise ValueError(
            f"white text on {colour} has a contrast of {ratio:.1f}:1; buttons need "
            f"{MIN_CONTRAST}:1 (WCAG AA), so pick a darker colour"
        )
    return colour


def contrast_with_white(colour: str) -> float:
    """WCAG's contrast ratio between white and ``#rrggbb``, from 1 (none) to 21."""
    channels = (int(colour[index : index + 2], 16) / 255 for index in (1, 3, 5))
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def check_logo_url(url: str | None) -> str | None:
    """An https:// address, or None: mail clients block images fetched over plain http."""
    if url is not None and not re.match(r"^https://[^\s\"'<>]+$", url):
        raise ValueError(f"expected an https:// address of an image, got {url[:80]!r}")
    return url
