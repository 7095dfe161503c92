"""Injected faults: the failures a real gateway or upstream produces, on demand, per request.

A test queues faults; each one is consumed by the first request it matches (surface, path
substring, endpoint kind), so a fault fires exactly once and the retry after it succeeds.
The core applies a fault around the responder's output; with no fault queued the data path
pays one empty-list check and nothing per event.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any, get_args

from gateway_conformance.gateway import admin_input as check
from gateway_conformance.gateway.turns import EndpointKind, ErrorKind, GatewayError

ENDPOINT_KINDS: tuple[str, ...] = get_args(EndpointKind)
MAX_DELAY = 60.0  # seconds: longer would outlast every client timeout the checks use

_KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    413: "request_too_large",
    429: "rate_limit",
    500: "api_error",
    503: "overloaded",
    529: "overloaded",
}

_MESSAGE_BY_KIND: dict[ErrorKind, str] = {
    "invalid_request": "Invalid request (injected fault).",
    "authentication": "Invalid bearer token.",
    "permission": "Permission denied (injected fault).",
    "not_found": "Not found (injected fault).",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit": "Rate limit exceeded (injected fault). Please retry later.",
    "api_error": "Internal server error",
    "overloaded": "Overloaded",
}


def kind_for_status(status: int) -> ErrorKind:
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request"


@dataclass(frozen=True)
class Fault:
    """One injected failure. Combine freely, e.g. a delay plus a cut stream.

    - ``status``: answer with this error (in the surface's envelope) instead of a reply.
    - ``delay_first_byte`` / ``delay_between_events``: seconds.
    - ``cut_after_events``: send N events, then close the connection without the rest.
    - ``malformed_after_events``: after N events, send one event whose data is not JSON.
    - ``drop_connection``: close the connection without any response.
    - ``surface`` / ``path`` / ``kind``: which requests it may fire on (``path`` is a
      substring of the request path; ``kind`` an endpoint kind, ``None`` for any).
    - ``marker``: only a request whose body carries this marker (gateway/markers.py).
    """

    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay_first_byte: float = 0.0
    delay_between_events: float = 0.0
    cut_after_events: int | None = None
    malformed_after_events: int | None = None
    drop_connection: bool = False
    surface: str | None = None
    path: str | None = None
    kind: str | None = "generate"
    marker: str | None = None

    def __post_init__(self) -> None:
        """Every field checked here, so neither the admin route nor a test can queue a fault
        that would break the request it fires on (gateway/admin_input.py)."""
        if self.status is not None:
            check.status("status", self.status)
        check.text("message", self.message)
        check.seconds("retry_after", self.retry_after, optional=True, high=check.MAX_RETRY_AFTER)
        for name in ("delay_first_byte", "delay_between_events"):
            check.seconds(name, getattr(self, name), optional=False, high=MAX_DELAY)
        for name in ("cut_after_events", "malformed_after_events"):
            check.count(name, getattr(self, name))
        check.flag("drop_connection", self.drop_connection)
        for name in ("surface", "path", "marker"):
            check.text(name, getattr(self, name))
        check.text("kind", self.kind, choices=ENDPOINT_KINDS)

    @classmethod
    def from_dict(cls, data: object, surfaces: Collection[str] | None = None) -> Fault:
        """Build from JSON (the admin route); unknown keys are an error, not ignored, and so
        is a ``surface`` outside ``surfaces`` (the fault would never fire)."""
        fields_ = check.only_fields(data, {f.name for f in fields(cls)}, "fault")
        fault = cls(**fields_)
        if surfaces is not None and fault.surface is not None:
            check.text("surface", fault.surface, choices=surfaces)
        return fault

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, surface: str, path: str, kind: str, marker: str | None = None) -> bool:
        return ((self.surface is None or self.surface == surface)
                and (self.path is None or self.path in path)
                and (self.kind is None or self.kind == kind)
                and (self.marker is None or self.marker == marker))

    def error(self) -> GatewayError:
        assert self.status is not None
        kind = kind_for_status(self.status)
        return GatewayError(self.status, kind, self.message or _MESSAGE_BY_KIND[kind],
                            retry_after=self.retry_after)

    def describe(self) -> str:
        """For a leftover's message: what it does and which requests it waits for."""
        if self.drop_connection:
            what = "dropped connection"
        elif self.status is not None:
            what = f"status {self.status}"
        elif self.cut_after_events is not None:
            what = f"cut after {self.cut_after_events} events"
        elif self.malformed_after_events is not None:
            what = f"malformed after {self.malformed_after_events} events"
        else:
            what = f"delay {self.delay_first_byte:g} s"
        return what + _filters(self.surface, self.marker, path=self.path, kind=self.kind)

    def label(self) -> str:
        """A short name for the ledger: which part of the fault shaped the response."""
        if self.drop_connection:
            return "dropped"
        if self.status is not None:
            return f"status:{self.status}"
        if self.cut_after_events is not None:
            return f"cut:{self.cut_after_events}"
        if self.malformed_after_events is not None:
            return f"malformed:{self.malformed_after_events}"
        return "delay"


def _filters(surface: str | None, marker: str | None, *, path: str | None = None,
             kind: str | None = "generate") -> str:
    """`` on gemini for marker m`` and the like: which requests a queued item waits for."""
    parts = [f" on {surface}" if surface else "", f" at *{path}*" if path else "",
             f" ({kind or 'any'} requests)" if kind != "generate" else "",
             f" for marker {marker}" if marker else ""]
    return "".join(parts)


class FaultQueue:
    """Faults waiting for their request, in the order queued."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._pending.append(fault)
        return fault

    def inject(self, **fault: Any) -> Fault:
        """Queue ``Fault(**fault)``: the short form tests use."""
        return self.add(Fault(**fault))

    def take(self, surface: str, path: str, kind: str, marker: str | None = None) -> Fault | None:
        """Consume and return the first fault matching this request, if any."""
        if not self._pending:
            return None
        with self._lock:
            for i, fault in enumerate(self._pending):
                if fault.matches(surface, path, kind, marker):
                    return self._pending.pop(i)
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._pending)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
