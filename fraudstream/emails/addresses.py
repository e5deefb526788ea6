"""Email addresses and domains the pipeline can send to (pure).

Our SMTP path is plain ASCII (no SMTPUTF8), so an address is accepted only
if every part of the way can carry it: ASCII letters, digits and the usual
punctuation before the ``@``, a dotted host name after it, no spaces, no
line breaks. Anything else is refused with the reason, never sent.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MAX_LOCAL = 64
_MAX_SHOWN = 80


class AddressError(ValueError):
    """Not an address (or domain) our mail path can take; the text says why."""


def check_address(address: str) -> str:
    """``address`` if it can be sent to; ``AddressError`` saying why not otherwise."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise AddressError(f"{_shown(address)} is not an email address (no local part and @)")
    if not address.isascii():
        raise AddressError(f"{_shown(address)} has non-ASCII characters, which we cannot send to")
    if len(local) > _MAX_LOCAL or not _LOCAL.fullmatch(local):
        raise AddressError(f"{_shown(address)} has characters an address cannot have before @")
    check_domain(domain)
    return address


def check_sender(sender: str) -> str:
    """``sender``, an address with or without a display name (``Bank <alerts@bank.example>``),
    if it can head an email; ``AddressError`` otherwise."""
    if "\r" in sender or "\n" in sender:
        raise AddressError(f"{_shown(sender)} has a line break, which would inject headers")
    check_address(parseaddr(sender)[1] or sender)
    return sender


def check_domain(domain: str) -> str:
    """``domain`` if it is a host name an address can end with; ``AddressError`` otherwise."""
    if not domain.isascii() or not _DOMAIN.fullmatch(domain):
        raise AddressError(f"{_shown(domain)} is not a host name an address can end with")
    return domain


def _shown(text: str) -> str:
    return repr(text) if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]!r}..."
