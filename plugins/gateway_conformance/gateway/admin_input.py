"""Checks for every value the admin routes (and the matching Python API) accept.

Why a module of its own: a queued fault or scripted turn acts later, inside some other
request, so a value that is merely the wrong type (``"qpm": "x"``, ``"path": 7``,
``"retry_after": "abc"``) used to surface as 500s on every surface, dropped connections or
an error body under a 200 until somebody reset the mock (issue 14 item 6). Every value is
therefore checked where it enters, and refused with :class:`AdminInputError`, whose message
names the field and the rule; the admin route answers it as a JSON 400.

JSON has no integer type of its own, so ``true`` and ``1.5`` are refused where a count is
expected (Python's ``bool`` is an ``int``); Python's JSON reader also accepts ``NaN`` and
``Infinity``, which no limit or delay may be.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

MAX_COUNT = 10**9  # requests, tokens, events: far above anything a test needs
MAX_RETRY_AFTER = 3600.0  # seconds: an hour is the longest Retry-After a check should meet
MAX_TEXT = 100_000  # characters of a scripted reply or message


class AdminInputError(ValueError):
    """A value an admin route cannot use; the message names the field and the rule."""


def only_fields(data: object, known: Collection[str], what: str) -> Mapping[str, Any]:
    """``data`` as a JSON object whose keys are all in ``known``."""
    if not isinstance(data, Mapping):
        raise AdminInputError(f"{what} must be a JSON object, got {_kind(data)}")
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise AdminInputError(f"unknown {what} fields: {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
    return data


def count(name: str, value: object, *, optional: bool = True, low: int = 0, high: int = MAX_COUNT,
          ) -> int | None:
    """A whole number in ``[low, high]`` (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminInputError(f"{name} must be a whole number{_or_null(optional)}, got {_kind(value)}")
    if not low <= value <= high:
        raise AdminInputError(f"{name} must be between {low} and {high}, got {value}")
    return value


def seconds(name: str, value: object, *, optional: bool, high: float) -> float | None:
    """A finite number of seconds in ``[0, high]`` (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminInputError(f"{name} must be a number of seconds{_or_null(optional)}, got {_kind(value)}")
    if not (math.isfinite(value) and 0 <= value <= high):
        raise AdminInputError(f"{name} must be between 0 and {high:g} seconds, got {value}")
    return float(value)


def status(name: str, value: object) -> int:
    """An HTTP error status, 400-599: anything else would answer an error body under a
    success status, or a status line no client can read."""
    checked = count(name, value, optional=False, low=400, high=599)
    assert checked is not None
    return checked


def text(name: str, value: object, *, optional: bool = True, choices: Collection[str] | None = None,
         ) -> str | None:
    """A string (of ``choices`` when given; ``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise AdminInputError(f"{name} must be a string{_or_null(optional)}, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise AdminInputError(f"{name} must be at most {MAX_TEXT} characters, got {len(value)}")
    if choices is not None and value not in choices:
        raise AdminInputError(f"{name} must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise AdminInputError(f"{name} must be true or false, got {_kind(value)}")
    return value


def _or_null(optional: bool) -> str:
    return " or null" if optional else ""


_JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number", list: "array",
               dict: "object", type(None): "null"}


def _kind(value: object) -> str:
    """``string 'abc'``: the JSON type and (the start of) the value, for messages."""
    shown = repr(value)
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {shown if len(shown) <= 40 else shown[:37] + '...'}"
