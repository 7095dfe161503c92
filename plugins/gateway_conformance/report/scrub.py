"""Scrub every known token value out of pytest's reports before anything prints or stores them.

The second line of defence behind :class:`~gateway_conformance.secret.Secret`: a test that
revealed a token (a header dict in its locals, an ``assert`` on the raw value, output of a
subprocess it started) would still leak it through the traceback, the captured output or a
``record_property``. ``plugin.py`` runs each test and collection report through
:func:`scrub_report` as it is made, so the terminal, JUnit XML, the JSON results and the
HTML page all receive the scrubbed report: there is no later copy with the value in it.

The report's traceback is pytest's tree of ``TerminalRepr`` dataclasses; it is walked
generically (dataclass fields, lists, tuples, dicts) rather than by class name, so a new
pytest that adds a field still has its strings scrubbed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import pytest

from gateway_conformance.secret import known_values, scrub

R = TypeVar("R", pytest.TestReport, pytest.CollectReport)
_MAX_DEPTH = 40


def scrub_report(report: R) -> R:
    """``report`` with every known token replaced in its traceback, sections and properties."""
    if not known_values():
        return report
    report.longrepr = _scrub(report.longrepr, 0)
    if report.longrepr is not None and not isinstance(report.longrepr, str) \
            and scrub(text := str(report.longrepr)) != text:
        report.longrepr = scrub(text)  # a repr this walk does not know: keep its text, scrubbed
    report.sections[:] = _scrub(list(report.sections), 0)
    properties = getattr(report, "user_properties", None)
    if properties:
        properties[:] = _scrub(list(properties), 0)
    return report


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > _MAX_DEPTH or value is None or isinstance(value, int | float | bool | bytes):
        return value
    if isinstance(value, list):
        value[:] = [_scrub(item, depth + 1) for item in value]
        return value
    if isinstance(value, tuple):
        items = [_scrub(item, depth + 1) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {_scrub(k, depth + 1): _scrub(v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            object.__setattr__(value, field.name, _scrub(getattr(value, field.name), depth + 1))
    return value
