"""Tokens in a type that never shows its value, and the scrubber for the values it knows.

Why a type: when a check fails, pytest prints the failing test's arguments and, with
``--showlocals``, its locals; any dataclass holding a token prints it in its ``repr``. A
plain ``str`` token therefore ends up in CI logs, JUnit XML and reports. A :class:`Secret`
prints as ``Secret('***')`` wherever it is formatted (``repr``, ``str``, f-strings, ``%``),
and only the code that puts it on the wire calls :meth:`Secret.reveal`.

Why a registry as well (defence in depth): a revealed value can still reach a message (a
header dict, an ``assert token == ...`` explanation, a subprocess's output). Every value
wrapped in a Secret is remembered for this process, and :func:`scrub` replaces each one with
``[redacted]``; the pytest plugin runs every report (longrepr, captured output, sections,
JUnit properties, the JSON/HTML results) through it. Values shorter than
:data:`MIN_SCRUB_LENGTH` are not remembered: no real token is that short, and scrubbing
them would mangle ordinary words.
"""

from __future__ import annotations

import hmac
import threading
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
MIN_SCRUB_LENGTH = 8

_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A token. Falsy when empty; equal to another Secret with the same value; never shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret | None = None) -> None:
        raw = value.reveal() if isinstance(value, Secret) else (value or "")
        if not isinstance(raw, str):
            raise TypeError(f"a Secret wraps a str, not {type(raw).__name__}")
        self._value = raw
        remember(raw)

    def reveal(self) -> str:
        """The value itself: call this only where the token is sent or written to a 0600 file."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


def reveal(token: Secret | str | None) -> str:
    """The raw value of a token given either way (``None`` -> ``""``), for the senders."""
    if isinstance(token, Secret):
        return token.reveal()
    return token or ""


def remember(value: str | None) -> None:
    """Scrub ``value`` from everything this process reports from now on (too short: ignored)."""
    if value and len(value) >= MIN_SCRUB_LENGTH:
        with _lock:
            _known.add(value)


def known_values() -> frozenset[str]:
    with _lock:
        return frozenset(_known)


def scrub(text: str) -> str:
    """``text`` with every remembered token value replaced by :data:`REDACTED` (longest first,
    so a token containing another is replaced whole)."""
    values = known_values()
    if not values or not text:
        return text
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def safe_url(url: str | None) -> str | None:
    """A URL without userinfo, query or fragment: those are where credentials hide."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
