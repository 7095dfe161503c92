"""Replay cassettes both ways.

As a server (:class:`ReplayLayer`): the mock gateway hands each authenticated request to the
layer first; a request matching a recorded one gets the recorded response back, byte for
byte, with the recorded timing divided by ``speed`` (``math.inf``: no waiting at all).

As a client (:func:`replay_as_client`): the recorded requests are sent to any gateway (the
mock, or a real one with a token from the environment) and each answer is judged by shape
(:mod:`gateway_conformance.traffic.shapes`), because a real model's words differ from the
recorded ones while the protocol must not.

Matching is semantic: JSON bodies are compared as data after removing volatile fields that
change on every run of the same agent session (see :data:`VOLATILE_PATHS` and
:data:`VOLATILE_TEXT`), secret-bearing query parameters are ignored, and a cassette may list
more paths in ``meta.ignore``. Identical requests (a retry after an injected 429) are served
in recorded order: the first gets the 429, the second the success.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway_conformance import cost
from gateway_conformance.gateway.turns import GatewayError
from gateway_conformance.secret import Secret, reveal
from gateway_conformance.sse import SSEParser
from gateway_conformance.traffic import shapes
from gateway_conformance.traffic.cassette import (
    Cassette,
    Interaction,
    RecordedEvent,
    RecordedRequest,
    RecordedResponse,
    clean_headers,
    decode_body,
    is_sse,
)
from gateway_conformance.traffic.redact import PLACEHOLDER, SECRET_HEADERS, SECRET_QUERY_KEYS, Redactor

# Request-body fields that differ between two runs of the same session (dotted paths, ``*``
# matches any key or list index). Documented in CONTRIBUTING.md; extend per cassette with
# ``meta.ignore``.
VOLATILE_PATHS: tuple[str, ...] = (
    "metadata.user_id",  # Anthropic: Claude Code puts its session and account ids here
    "prompt_cache_key",  # Responses: Codex's per-conversation cache key
    "client_metadata",  # Responses: Codex's per-installation ids
    "user",  # Chat Completions / Responses end-user id
    "safety_identifier",  # Responses end-user id (newer name)
    "session_id",
    "conversation_id",
    "request_id",
    "user_prompt_id",  # Gemini CLI's per-prompt id
    "labels",  # Gemini request labels (session-scoped)
)

# Volatile text inside strings (system prompts carry dates, the working folder, session ids).
VOLATILE_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"),
     "<date>"),
    (re.compile(r"(?:/private)?/(?:tmp|var/folders)/[^\s\"'`]*"), "<tmp>"),
    (re.compile(r"\b1[6-9]\d{8}(?:\d{3})?\b"), "<epoch>"),
)

REPLAY_HEADER = "x-gateway-conformance-cassette"


# ---- matching ------------------------------------------------------------------------------

def _normalise_text(text: str) -> str:
    for pattern, repl in VOLATILE_TEXT:
        text = pattern.sub(repl, text)
    return text


def _drop(obj: Any, parts: Sequence[str]) -> Any:
    """A copy of ``obj`` without the values at the dotted path ``parts``."""
    if not parts:
        return obj
    head, rest = parts[0], parts[1:]
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if head in ("*", key):
                if not rest:
                    continue
                value = _drop(value, rest)
            out[key] = value
        return out
    if isinstance(obj, list) and (head == "*" or head.isdigit()):
        return [(_drop(v, rest) if head in ("*", str(n)) and rest else v)
                for n, v in enumerate(obj) if not (head in ("*", str(n)) and not rest)]
    return obj


def normalise_body(body: Any, ignore: Iterable[str] = ()) -> Any:
    """The request body as matching sees it: secrets redacted, volatile fields and text gone."""
    body = Redactor().data(body)
    for path in (*VOLATILE_PATHS, *ignore):
        body = _drop(body, path.split("."))
    return _texts(body)


def _texts(obj: Any) -> Any:
    if isinstance(obj, str):
        return _normalise_text(obj)
    if isinstance(obj, list):
        return [_texts(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _texts(v) for k, v in obj.items()}
    return obj


def normalise_query(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in pairs if k.lower() not in SECRET_QUERY_KEYS))


def first_difference(a: Any, b: Any, where: str = "body") -> str | None:
    """The dotted path of the first place two JSON values differ (for a useful error)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key} ({'missing in request' if key not in b else 'not recorded'})"
            diff = first_difference(a[key], b[key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list):
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            diff = first_difference(x, y, f"{where}[{n}]")
            if diff:
                return diff
        return None if len(a) == len(b) else f"{where} (recorded {len(a)} items, got {len(b)})"
    return None if a == b else where


@dataclass
class _Entry:
    cassette: Cassette
    index: int
    interaction: Interaction
    key: tuple[Any, ...]
    served: int = 0


@dataclass
class Match:
    cassette: Cassette
    index: int
    interaction: Interaction


@dataclass
class Miss:
    """No recorded request matched; ``nearest`` names the closest cassette and why."""

    method: str
    path: str
    nearest: Cassette | None = None
    difference: str | None = None

    def message(self) -> str:
        if self.nearest is None:
            return f"no cassette holds a recorded {self.method} {self.path}"
        rerecord = self.nearest.meta.rerecord or "see CONTRIBUTING.md"
        return (f"no recorded interaction in cassette {self.nearest.name} matches {self.method} "
                f"{self.path} (first difference: {self.difference}); re-record it with: {rerecord}")


class CassetteLibrary:
    """The recorded interactions the server can answer with, indexed for matching."""

    def __init__(self, cassettes: Iterable[Cassette] = ()) -> None:
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        for cassette in cassettes:
            self.add(cassette)

    def add(self, cassette: Cassette) -> None:
        with self._lock:
            for n, inter in enumerate(cassette.interactions):
                self._entries.append(_Entry(cassette, n, inter, self._key(
                    inter.request.method, inter.request.path, inter.request.query,
                    inter.request.body, cassette.meta.ignore)))

    @property
    def cassettes(self) -> list[Cassette]:
        seen: dict[int, Cassette] = {}
        for entry in self._entries:
            seen.setdefault(id(entry.cassette), entry.cassette)
        return list(seen.values())

    def reset(self) -> None:
        with self._lock:
            for entry in self._entries:
                entry.served = 0

    def match(self, method: str, path: str, query: Iterable[tuple[str, str]], body: Any) -> Match | Miss:
        """First not-yet-served matching interaction; once all are served, the last one again."""
        query = list(query)
        keys: dict[tuple[str, ...], tuple[Any, ...]] = {}  # one normalisation per ignore list

        def key(ignore: list[str]) -> tuple[Any, ...]:
            if tuple(ignore) not in keys:
                keys[tuple(ignore)] = self._key(method, path, query, body, ignore)
            return keys[tuple(ignore)]

        with self._lock:
            hits = [e for e in self._entries if e.key[:2] == (method.upper(), path)
                    and e.key == key(e.cassette.meta.ignore)]
            if hits:
                entry = next((e for e in hits if e.served == 0), hits[-1])
                entry.served += 1
                return Match(entry.cassette, entry.index, entry.interaction)
            return self._miss(method, path, body)

    def _miss(self, method: str, path: str, body: Any) -> Miss:
        same_route = [e for e in self._entries if e.key[:2] == (method.upper(), path)]
        if not same_route:
            near = self._entries[0].cassette if self._entries else None
            return Miss(method, path, near, f"path {path} was not recorded")
        entry = same_route[0]
        diff = first_difference(entry.key[3], normalise_body(body, entry.cassette.meta.ignore))
        return Miss(method, path, entry.cassette, diff or "query string")

    @staticmethod
    def _key(method: str, path: str, query: Iterable[tuple[str, str]], body: Any,
             ignore: Iterable[str]) -> tuple[Any, ...]:
        return (method.upper(), path, normalise_query(query), normalise_body(body, ignore))


# ---- replay as a server ---------------------------------------------------------------------

def replay_headers(response: RecordedResponse, cassette: Cassette) -> dict[str, str]:
    headers = {k: v for k, v in response.headers.items() if k not in SECRET_HEADERS}
    headers[REPLAY_HEADER] = cassette.name
    return headers


def _wait_until(t0: float, offset_ms: float, speed: float) -> float:
    """Seconds to sleep so that ``offset_ms`` (scaled by ``speed``) has passed since ``t0``."""
    if math.isinf(speed):
        return 0.0
    return max(0.0, t0 + offset_ms / 1000.0 / speed - time.perf_counter())


async def recorded_stream(events: Sequence[RecordedEvent], tail: bytes, t_end_ms: float, t0: float,
                          speed: float) -> AsyncIterator[bytes]:
    """Each event's exact bytes at its recorded offset from the request start.

    Events already due are sent together in one write: the bytes and their order are the
    recording's, and accelerated replay is not bound by one socket write per event.
    """
    timed = [(rec.t_ms, rec.event.encode()) for rec in events]
    if tail:
        timed.append((t_end_ms, tail))
    pending: list[bytes] = []
    for offset, raw in timed:
        delay = _wait_until(t0, offset, speed)
        if delay:
            if pending:
                yield b"".join(pending)
                pending.clear()
            await asyncio.sleep(delay)
        pending.append(raw)
    if pending:
        yield b"".join(pending)


async def recorded_response(match: Match, t0: float, speed: float) -> Response:
    """The recorded response of ``match`` as a Starlette response, timing kept."""
    resp = match.interaction.response
    headers = replay_headers(resp, match.cassette)
    delay = _wait_until(t0, resp.t_headers_ms, speed)
    if delay:
        await asyncio.sleep(delay)
    if resp.events is not None:
        return StreamingResponse(recorded_stream(resp.events, resp.tail, resp.t_end_ms, t0, speed),
                                 status_code=resp.status, headers=headers)
    delay = _wait_until(t0, resp.t_end_ms, speed)
    if delay:
        await asyncio.sleep(delay)
    return Response(resp.body_bytes(), status_code=resp.status, headers=headers)


class ReplayLayer:
    """The cassette responder, plugged into the mock as ``gateway.replay`` (its ``RawLayer``).

    The gateway authenticates a request, then hands every request of a surface this layer
    ``handles`` to :meth:`serve` together with the :class:`~gateway_conformance.gateway.turns.Surface`
    that owns the route. A match gets the recorded response, byte for byte, at the recorded
    timing divided by ``speed``; a miss gets an error in the surface's own envelope naming the
    nearest cassette and the command that re-records it.
    """

    def __init__(self, library: CassetteLibrary, *, speed: float = 1.0,
                 surfaces: Iterable[str] | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0 (math.inf replays without waiting)")
        self.library = library
        self.speed = speed
        self.surfaces = (frozenset(surfaces) if surfaces is not None
                         else frozenset(c.meta.surface for c in library.cassettes))

    def handles(self, surface: str) -> bool:
        return surface in self.surfaces

    async def serve(self, surface: Any, scope: Scope, receive: Receive, send: Send) -> int:
        t0 = time.perf_counter()
        request = Request(scope, receive)
        body = await request.body()
        response = await self.respond(surface, request.method, request.url.path, request.url.query,
                                      dict(request.headers), body, t0)
        await response(scope, receive, send)
        return response.status_code

    async def respond(self, surface: Any, method: str, path: str, query: str, headers: dict[str, str],
                      body: bytes, t0: float) -> Response:
        data, _ = decode_body(body, clean_headers(headers))
        result = self.library.match(method, path, parse_qsl(query, keep_blank_values=True), data)
        if isinstance(result, Miss):
            error = GatewayError(400, "invalid_request", result.message())
            return JSONResponse(surface.error_body(error), status_code=error.status,
                                headers=surface.extra_headers(error))
        return await recorded_response(result, t0, self.speed)


def mount(gateway: Any, cassettes: Iterable[Cassette], *, speed: float = 1.0) -> ReplayLayer:
    """Serve ``cassettes`` from a running mock gateway (``gateway.replay = None`` unmounts)."""
    layer = ReplayLayer(CassetteLibrary(cassettes), speed=speed)
    gateway.replay = layer
    return layer


# ---- replay as a client ---------------------------------------------------------------------

BODY_EXCERPT = 200  # bytes of an answer's body quoted in a finding


@dataclass
class Exchange:
    """One replayed request and what the target answered (timed like a recording)."""

    index: int
    request: RecordedRequest
    recorded: RecordedResponse
    actual: RecordedResponse | None
    findings: list[shapes.Finding] = field(default_factory=list)


@dataclass
class ClientReplay:
    cassette: Cassette
    exchanges: list[Exchange]

    @property
    def findings(self) -> list[shapes.Finding]:
        return [f for x in self.exchanges for f in x.findings]

    @property
    def errors(self) -> list[shapes.Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def report(self) -> str:
        """Per exchange with findings: what was sent, what came back (status, first bytes of the
        body), what was recorded, then the findings: enough to act on without rerunning."""
        lines = [f"{self.cassette.name}: {len(self.exchanges)} exchanges, {len(self.errors)} errors"]
        for exchange in self.exchanges:
            if not exchange.findings:
                continue
            req = exchange.request
            got = (f"{exchange.actual.status}: {exchange.actual.body_bytes()[:BODY_EXCERPT]!r}"
                   if exchange.actual is not None else "no answer")
            lines.append(f"  #{exchange.index} {req.method} {req.path} -> {got} "
                         f"(recorded {exchange.recorded.status})")
            lines += [f"    {f}" for f in exchange.findings]
        return "\n".join(lines)


def outgoing_headers(request: RecordedRequest, token: Secret | str | None) -> dict[str, str]:
    """The recorded headers with every redacted credential replaced by ``token``."""
    headers = {}
    for name, value in request.headers.items():
        if PLACEHOLDER in value:
            if token is None:
                continue
            value = value.replace(PLACEHOLDER, reveal(token))
        headers[name] = value
    return headers


def read_response(response: httpx.Response, t0: float) -> RecordedResponse:
    """Read an httpx streaming response into the cassette form, timing each event."""
    headers = clean_headers(response.headers)
    t_headers = (time.perf_counter() - t0) * 1000.0
    if not is_sse(headers):
        body = response.read()
        return RecordedResponse.from_body(response.status_code, headers, body, t_headers_ms=t_headers,
                                          t_end_ms=(time.perf_counter() - t0) * 1000.0)
    parser = SSEParser()
    events: list[RecordedEvent] = []
    for chunk in response.iter_bytes():
        now = (time.perf_counter() - t0) * 1000.0
        events.extend(RecordedEvent(now, ev) for ev in parser.feed(chunk))
    return RecordedResponse(response.status_code, headers, events=events, tail=parser.close(),
                            t_headers_ms=t_headers, t_end_ms=(time.perf_counter() - t0) * 1000.0)


def replay_as_client(cassette: Cassette, base_url: str, *, token: Secret | str | None = None,
                     client: httpx.Client | None = None, timeout: float = 60.0,
                     before_each: Callable[[int, Interaction], None] | None = None) -> ClientReplay:
    """Send every recorded request to ``base_url`` (the gateway root; the recorded paths carry
    the surface prefix) and judge each answer by shape against the recording.

    ``before_each(index, interaction)`` runs before each request: a test against the mock
    uses it to inject the recorded fault again. Transport errors become findings.
    """
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    exchanges = []
    try:
        for n, inter in enumerate(cassette.interactions):
            if before_each is not None:
                before_each(n, inter)
            req = inter.request
            url = base_url.rstrip("/") + req.path
            exchange = Exchange(n, req, inter.response, None)
            t0 = time.perf_counter()
            try:
                query = [(k, reveal(token) if v == PLACEHOLDER and token else v) for k, v in req.query]
                with http.stream(req.method, url, params=query or None,
                                 headers=outgoing_headers(req, token), content=req.body_bytes()) as resp:
                    exchange.actual = read_response(resp, t0)
                cost.record(exchange.actual)
            except httpx.HTTPError as exc:
                exchange.findings.append(shapes.Finding("error", "transport", f"{req.method} {url}: {exc!r}",
                                                        cassette.name, n))
            else:
                exchange.findings = shapes.compare(cassette.meta.surface, req, inter.response,
                                                   exchange.actual, injected_fault=inter.injected_fault,
                                                   cassette=cassette.name, index=n)
            exchanges.append(exchange)
    finally:
        if own:
            http.close()
    return ClientReplay(cassette, exchanges)
