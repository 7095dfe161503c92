"""The mock AI Gateway: every registered :class:`Surface` behind one policy, ledger and fault layer.

Data path of a generate request: auth -> parse (surface) -> model check -> rate limits ->
fault -> responder -> render (surface; JSON, or SSE sent event by event) -> ledger.
The core knows no protocol: it wires any Surface's endpoints under its prefix, so a new
surface is one module exposing ``SURFACE`` and one entry in :data:`SURFACE_MODULES`.

Endpoints are raw ASGI callables behind a starlette ``Router`` (no middleware stack): a
stream is one ``send`` per event, nothing buffers it, and connection faults can close the
socket themselves.

Admin routes (JSON; only ``Authorization: Bearer <admin token>``, a model token gets 403:
docs/mock-gateway.md says why) let a test drive an out-of-process ``serve`` the way the
fixtures drive the embedded mock. Every value they take is checked (gateway/admin_input.py)
and a bad one is a 400 naming the field, so nothing queued can break a later request:

- ``GET /_admin/ledger[?marker=M]`` -> ``{"records": [LedgerRecord.to_dict(), ...]}`` (only
  the requests carrying correlation marker M, when given: gateway/markers.py)
- ``POST /_admin/script`` one turn or a list (see ``ScriptedTurn.from_dict``)
- ``POST /_admin/faults`` one fault or a list (``Fault`` fields)
- ``POST /_admin/limits`` ``{"qpm": int|null, "tpm": int|null}``
- ``POST /_admin/reset`` forget the ledger, queued turns and faults, limits and permissions
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import importlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from gateway_conformance.gateway import admin_input
from gateway_conformance.gateway.faults import Fault, FaultQueue
from gateway_conformance.gateway.ledger import DEFAULT_WINDOW, RECORDED_QUERY, Ledger, LedgerRecord
from gateway_conformance.gateway.markers import find_marker
from gateway_conformance.gateway.policy import Clock, Limits, Policy, bearer_token, presented_token
from gateway_conformance.gateway.responders import (
    EchoResponder,
    Responder,
    ScriptedResponder,
    ScriptedTurn,
    input_tokens,
)
from gateway_conformance.gateway.turns import Endpoint, GatewayError, Surface
from gateway_conformance.gateway.usage.capture import Exchange
from gateway_conformance.gateway.usage.tags import request_tags
from gateway_conformance.secret import Secret

log = logging.getLogger(__name__)

# Modules under gateway/ that expose ``SURFACE: Surface``, in route-registration order.
SURFACE_MODULES = ("anthropic", "openai_responses", "openai_chat", "gemini")

DEFAULT_MODELS = (
    "databricks-claude-opus-4-6",
    "databricks-claude-sonnet-4-5",
    "databricks-claude-haiku-4-5",
    "databricks-gpt-5-2",
    "databricks-gpt-5-mini",
    "databricks-gemini-2-5-flash",
    "databricks-gemini-2-5-pro",
)
MAX_BODY_BYTES = 32 * 1024 * 1024
BODY_TIMEOUT_SECONDS = 60.0  # a whole request body; a real client sends one in milliseconds
ADMIN_PREFIX = "/_admin"


def default_surfaces() -> list[Surface]:
    return [importlib.import_module(f"gateway_conformance.gateway.{name}").SURFACE
            for name in SURFACE_MODULES]


def new_token() -> str:
    """A random bearer token for the mock (deliberately unlike any vendor's key format)."""
    return f"gwc-{secrets.token_urlsafe(24)}"


def new_admin_token() -> str:
    """A random admin token: the prefix tells it from a model token in a config file."""
    return f"gwc-admin-{secrets.token_urlsafe(24)}"


@dataclass
class GatewayConfig:
    """What an admin would configure: tokens (token -> identity), models, permissions, limits."""

    tokens: Mapping[str, str]
    models: Sequence[str] = DEFAULT_MODELS
    permissions: Mapping[str, Collection[str]] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    clock: Clock | None = None
    surfaces: Sequence[Surface] | None = None
    responder: Responder | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    #: Requests the in-memory ledger keeps (the usage tables keep every one).
    ledger_window: int = DEFAULT_WINDOW
    #: Seconds a request body may take to arrive (408 after; None: no deadline).
    body_timeout_seconds: float | None = BODY_TIMEOUT_SECONDS
    #: The only token the ``/_admin`` routes accept (None: a random one, ``Gateway.admin_token``).
    admin_token: str | None = None

    def token_for(self, identity: str) -> str:
        return next(token for token, name in self.tokens.items() if name == identity)


class UsageSink(Protocol):
    """Takes each finished request (record and captured bytes) for the usage and inference
    tables; must not block (it runs on the event loop, just before the last byte leaves)."""

    def submit(self, record: LedgerRecord, exchange: Exchange) -> None: ...

    def backlogged(self) -> bool:
        """True while rows wait beyond the sink's bound: model calls then get 503."""


class RawLayer(Protocol):
    """Answers whole requests of the surfaces it ``handles`` with raw recorded bytes."""

    def handles(self, surface: str) -> bool: ...

    async def serve(self, surface: Surface, scope: Scope, receive: Receive, send: Send) -> int: ...


class Gateway:
    """The assembled mock: ``app`` is the ASGI app; the rest is state tests read and steer."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.surfaces: dict[str, Surface] = {s.name: s for s in (config.surfaces or default_surfaces())}
        self.policy = Policy(config.tokens, config.models, permissions=config.permissions,
                             limits=config.limits, clock=config.clock)
        self.ledger = Ledger(config.ledger_window)
        self.admin_token = Secret(config.admin_token or new_admin_token())  # a Secret: scrubbed
        if self.admin_token.reveal() in config.tokens:
            raise ValueError("the admin token must not also be a model token")
        # The usage and inference tables (gateway/usage/recorder.py), when the host gives them.
        self.usage: UsageSink | None = None
        self.faults = FaultQueue()
        self.script = ScriptedResponder(config.responder or EchoResponder())
        # Consulted after auth; the cassette responder (traffic/replay.py) plugs in from above.
        self.replay: RawLayer | None = None
        self.app = Router(routes=self._routes(), default=_root_not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    @property
    def responder(self) -> Responder:
        """What answers when no scripted turn is queued (echo unless configured)."""
        return self.script.fallback

    @responder.setter
    def responder(self, responder: Responder) -> None:
        self.script.fallback = responder

    def reset(self) -> None:
        """Forget everything a test did: ledger, queued turns and faults, limits, permissions."""
        self.ledger.clear()
        self.script.clear()
        self.script.fallback = self.config.responder or EchoResponder()
        self.faults.clear()
        self.policy.reset()

    def recorded(self, record: LedgerRecord, exchange: Exchange) -> None:
        """A request is over: into the ledger window and, if configured, the tables."""
        self.ledger.add(record)
        if self.usage is not None:
            self.usage.submit(record, exchange)

    def prefixes(self) -> dict[str, str]:
        return {name: surface.prefix for name, surface in self.surfaces.items()}

    def _routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for surface in self.surfaces.values():
            own: list[Route] = []
            for endpoint in surface.endpoints:
                handler = _EndpointApp(self, surface, endpoint)
                paths = [surface.prefix + endpoint.path]
                if endpoint.path == "/":
                    paths.append(surface.prefix)
                own += [Route(p, handler, methods=[endpoint.method]) for p in paths]
            routes += own
            unknown = _EndpointApp(self, surface, None, siblings=own)
            routes += [Route(surface.prefix + "/{rest:path}", unknown), Route(surface.prefix, unknown)]
        routes += _admin_routes(self)
        return routes


def create_gateway(config: GatewayConfig) -> Gateway:
    return Gateway(config)


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class _EndpointApp:
    """One surface endpoint as a raw ASGI app (``endpoint=None``: the surface's 404/405)."""

    def __init__(self, gateway: Gateway, surface: Surface, endpoint: Endpoint | None,
                 siblings: Sequence[Route] = ()) -> None:
        self.gateway = gateway
        self.surface = surface
        self.endpoint = endpoint
        self.siblings = siblings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gw, surface = self.gateway, self.surface
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        headers = Request(scope).headers
        record = LedgerRecord(request_id=request_id, started_at=time.time(), surface=surface.name,
                              endpoint=self.endpoint.kind if self.endpoint else "unknown",
                              method=scope["method"], path=scope["path"],
                              wall_minus_perf=time.time() - time.perf_counter())
        record.note_headers(headers)
        record.query = _recorded_query(scope.get("query_string", b""))
        exchange = Exchange()
        out = _Responder(send, request_id, record, exchange, gw.recorded)
        try:
            await self._handle(scope, exchange.receive(receive), headers, record, out)
        except _Dropped:
            pass
        except GatewayError as err:
            await out.error(surface, err)
        except _ClientGone:
            record.status = 499
        except Exception:  # a bug in a surface or the core: still answer in the surface's envelope
            log.exception("gateway error on %s %s", scope["method"], scope["path"])
            await out.error(surface, GatewayError(500, "api_error", "Internal server error"))
        finally:
            out.finish()

    async def _handle(self, scope: Scope, receive: Receive, headers: Mapping[str, str],
                      record: LedgerRecord, out: _Responder) -> None:
        gw, surface, endpoint = self.gateway, self.surface, self.endpoint
        if endpoint is None:
            if any(route.matches(scope)[0] is Match.PARTIAL for route in self.siblings):
                raise GatewayError(405, "invalid_request",
                                   f"Method {scope['method']} not allowed for {scope['path']}")
            raise GatewayError(404, "not_found", f"Not found: {scope['path']}")
        if endpoint.kind == "probe":
            await out.json(200, {"status": "ok", "surface": surface.name})
            return
        try:  # recorded even on a 401, but refused as malformed only once the caller is known
            record.request_tags, bad_tags = request_tags(headers), None
        except GatewayError as err:
            bad_tags = err
        token = presented_token(headers, Request(scope).query_params)
        identity = record.identity = gw.policy.authenticate(token)
        if bad_tags is not None:
            raise bad_tags
        if gw.usage is not None and gw.usage.backlogged():
            raise GatewayError(503, "overloaded", "The gateway is logging usage slower than it serves; "
                               "retry shortly.", retry_after=1)
        if gw.replay is not None and gw.replay.handles(surface.name):
            record.invocation_id = _invocation_id()
            record.status = await gw.replay.serve(surface, scope, receive, out._send)
            return
        if endpoint.kind == "models":
            await self._fault(scope, record, out)
            await out.json(200, surface.models_body(gw.policy.models))
            return
        if surface.check_headers is not None:
            surface.check_headers(headers)
        body, raw = await _read_json(receive, gw.config.max_body_bytes, gw.config.body_timeout_seconds)
        record.marker = find_marker(raw)
        request = surface.parse_request(body, dict(scope.get("path_params", {})))
        request = dataclasses.replace(request, marker=record.marker)
        if isinstance(endpoint.stream, bool) and request.stream is not endpoint.stream:
            request = dataclasses.replace(request, stream=endpoint.stream)
        record.model, record.stream = request.model, request.stream
        gw.policy.check_model(identity, request.model)
        tokens_in = record.input_tokens = input_tokens(request)
        if endpoint.kind == "count_tokens":
            if surface.count_tokens_body is None:
                raise GatewayError(404, "not_found", f"Not found: {scope['path']}")
            await self._fault(scope, record, out)
            await out.json(200, surface.count_tokens_body(tokens_in, request))
            return
        gw.policy.admit(identity, tokens_in)
        fault = await self._fault(scope, record, out)
        reply = gw.script.respond(request)
        record.invocation_id = _invocation_id()
        gw.policy.charge(identity, reply.output_tokens)
        record.input_tokens, record.output_tokens = reply.input_tokens, reply.output_tokens
        if request.stream:
            await out.stream(surface.render_stream(reply, request), fault, reply.pace)
        else:
            await out.json(200, surface.render_json(reply, request))



    async def _fault(self, scope: Scope, record: LedgerRecord, out: _Responder) -> Fault | None:
        """Take this request's fault, if one is queued, and apply what acts before any byte:
        the delay, a dropped connection, an error status. The rest shapes the stream."""
        assert self.endpoint is not None
        fault = self.gateway.faults.take(self.surface.name, scope["path"], self.endpoint.kind, record.marker)
        if fault is None:
            return None
        record.fault = fault.label()
        if fault.delay_first_byte:
            await asyncio.sleep(fault.delay_first_byte)
        if fault.drop_connection:
            await out.drop()
        if fault.status is not None:
            raise fault.error()
        return fault


def _invocation_id() -> str:
    return f"inv_{uuid.uuid4().hex[:24]}"


def _recorded_query(query_string: bytes) -> str:
    """The allow-listed query parameters, in their order (an API key never is one)."""
    pairs = [part for part in query_string.decode("latin-1").split("&") if part]
    return "&".join(p for p in pairs if p.partition("=")[0] in RECORDED_QUERY)


async def _read_json(receive: Receive, limit: int, timeout: float | None,
                     ) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object, and its raw bytes (where the correlation marker is found).

    The whole body must arrive within ``timeout`` seconds (408 otherwise): a client that
    sends a head and then stalls or trickles would otherwise hold its request open forever.
    """
    chunks: list[bytes] = []
    size = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = await asyncio.wait_for(receive(), remaining)
        except TimeoutError:
            raise GatewayError(408, "invalid_request",
                               f"The request body did not arrive within {timeout:g} seconds.") from None
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, "request_too_large",
                               f"Request exceeds the maximum allowed number of bytes ({limit}).")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    if not raw.strip():
        raise GatewayError(400, "invalid_request", "The request body is empty; expected a JSON object.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise GatewayError(400, "invalid_request",
                           f"There was an error parsing the body of your request: {exc}") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "invalid_request", "The request body must be a JSON object.")
    return body, raw


class _Dropped(Exception):
    """Raised after the connection was closed on purpose: nothing more may be sent."""


class _Responder:
    """Sends one response on the raw ASGI ``send`` and notes the outcome in the ledger record.

    The record is committed just before the last byte leaves (the capturing ``send`` calls
    :meth:`finish`), so a client that has read its whole response always finds the record
    in the ledger, and the captured bytes are complete when it is handed on.
    """

    def __init__(self, send: Send, request_id: str, record: LedgerRecord, exchange: Exchange,
                 recorded: Callable[[LedgerRecord, Exchange], None]) -> None:
        self._request_id = request_id
        self._raw_send = send  # uvicorn's own, which drop() reaches behind
        self._send = exchange.send(send, self.finish)
        self._record = record
        self._exchange = exchange
        self._recorded: Callable[[LedgerRecord, Exchange], None] | None = recorded
        self._started_at = time.perf_counter()
        self._headers = [(b"request-id", request_id.encode()), (b"x-request-id", request_id.encode())]
        self.started = False

    async def json(self, status: int, body: Mapping[str, Any], extra: Mapping[str, str] | None = None,
                   ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers = [*self._headers, (b"content-type", b"application/json"),
                   (b"content-length", str(len(payload)).encode()),
                   *((k.lower().encode(), v.encode()) for k, v in (extra or {}).items())]
        self._start(status)
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": payload, "more_body": False})

    def _start(self, status: int) -> None:
        self.started = True
        self._record.status = status
        self._record.first_byte_ms = (time.perf_counter() - self._started_at) * 1000

    def finish(self) -> None:
        """Commit the ledger record (once)."""
        if self._recorded is not None:
            recorded, self._recorded = self._recorded, None
            self._record.latency_ms = (time.perf_counter() - self._started_at) * 1000
            self._record.status = self._record.status or self._exchange.status  # replayed bytes
            recorded(self._record, self._exchange)

    async def error(self, surface: Surface, err: GatewayError) -> None:
        self._record.error_kind = err.kind
        self._record.error_message = err.message
        if self.started:  # mid-stream: the status line is gone, all we can do is stop
            with contextlib.suppress(_Dropped):
                await self.drop()
            return
        err.request_id = self._request_id
        extra = dict(surface.extra_headers(err))
        if err.retry_after is not None:
            extra["retry-after"] = str(max(1, round(err.retry_after)))
        await self.json(err.status, surface.error_body(err), extra)

    async def stream(self, events: Iterable[bytes], fault: Fault | None, pace: float = 0.0) -> None:
        """One ``send`` per event, so each leaves as soon as it is produced."""
        delay = fault.delay_between_events if fault and fault.delay_between_events else pace
        cut = fault.cut_after_events if fault else None
        malformed = fault.malformed_after_events if fault else None
        record, send = self._record, self._send
        self._start(200)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*self._headers, (b"content-type", b"text/event-stream; charset=utf-8"),
                                (b"cache-control", b"no-cache")]})
        produced = record.produced_at
        for count, event in enumerate(events):
            if count and delay:
                await asyncio.sleep(delay)
            if count == cut:
                await self.drop()
                return
            if count == malformed:
                event = _truncated(event)
            produced.append(time.perf_counter())
            await send({"type": "http.response.body", "body": event, "more_body": True})
        record.events = len(produced)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def drop(self) -> None:
        """Close the socket now: no status line if nothing was sent, else no end of stream.

        ASGI has no abort, so this reaches uvicorn's response cycle behind ``send``; waiting
        for its disconnect flag keeps any later ``send`` from writing a clean end.
        """
        record = self._record
        record.events = len(record.produced_at)
        record.status = record.status or 0
        cycle = getattr(self._raw_send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise RuntimeError("connection faults need uvicorn's HTTP protocol behind the ASGI send")
        self.finish()
        transport.close()
        for _ in range(400):
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0.005)
        raise _Dropped


def _truncated(event: bytes) -> bytes:
    """The same event with its data cut in half: valid SSE framing, invalid JSON."""
    lines = event.rstrip(b"\r\n").split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data:"):
            payload = line[5:]
            lines[i] = b"data:" + payload[: max(1, len(payload) // 2)]
            break
    return b"\n".join(lines) + b"\n\n"


async def _root_not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await JSONResponse({"error": {"type": "not_found", "message": f"Not found: {scope['path']}"}},
                           status_code=404)(scope, receive, send)


# --- admin routes -----------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


MAX_ADMIN_BODY = 1024 * 1024


def _admin_error(status: int, message: str, kind: str = "invalid_request") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _admin_refusal(gw: Gateway, authorization: str | None) -> JSONResponse | None:
    """None for the admin token; else 401 (none or unknown) or 403 (a model token)."""
    token = bearer_token(authorization)
    if token is None:
        return _admin_error(401, "Missing authentication: send the admin token as 'Authorization: Bearer' "
                                 "(serve --json prints it as admin_token).", "authentication")
    if hmac.compare_digest(token.encode(), gw.admin_token.reveal().encode()):
        return None
    try:
        gw.policy.authenticate(token)
    except GatewayError:
        return _admin_error(401, "Invalid admin token.", "authentication")
    return _admin_error(403, "The admin routes take the admin token, not a model token "
                             "(serve --json prints it as admin_token).", "permission")


async def _admin_body(request: Request) -> object:
    """The JSON body, bounded; anything unreadable is an :class:`admin_input.AdminInputError`."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_ADMIN_BODY:
            raise admin_input.AdminInputError(f"the body exceeds {MAX_ADMIN_BODY} bytes")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise admin_input.AdminInputError("the body is not UTF-8 JSON") from None
    except RecursionError:
        raise admin_input.AdminInputError("the body nests too deeply") from None
    except ValueError as exc:
        raise admin_input.AdminInputError(f"the body is not JSON: {exc}") from None


def _admin_routes(gw: Gateway) -> list[BaseRoute]:
    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            refusal = _admin_refusal(gw, request.headers.get("authorization"))
            if refusal is not None:
                return refusal
            try:
                return await handler(request)
            except admin_input.AdminInputError as exc:
                return _admin_error(400, str(exc))
            except GatewayError as err:
                return _admin_error(err.status, err.message, err.kind)
            except Exception:  # a bug: still a JSON answer, and the traceback in the log
                log.exception("admin route %s failed", request.url.path)
                return _admin_error(500, "Internal error in the admin route.", "api_error")
        return endpoint

    async def items(request: Request) -> list[object]:
        body = await _admin_body(request)
        body = body if isinstance(body, list) else [body]
        if not all(isinstance(item, dict) for item in body):
            raise admin_input.AdminInputError("expected a JSON object or a list of objects")
        return body

    async def ledger(request: Request) -> Response:
        marker = request.query_params.get("marker")
        records = gw.ledger.records(**({"marker": marker} if marker else {}))
        return JSONResponse({"records": [r.to_dict() for r in records]})

    async def script(request: Request) -> Response:
        turns = [ScriptedTurn.from_dict(item, gw.surfaces) for item in await items(request)]
        for turn in turns:
            gw.script.push(turn)
        return JSONResponse({"queued": len(turns), "pending": gw.script.pending()})

    async def faults(request: Request) -> Response:
        queued = [Fault.from_dict(item, gw.surfaces) for item in await items(request)]
        for fault in queued:
            gw.faults.add(fault)
        return JSONResponse({"queued": len(queued), "pending": len(gw.faults.pending())})

    async def limits(request: Request) -> Response:
        body = await _admin_body(request)
        if isinstance(body, list):
            raise admin_input.AdminInputError("limits take one JSON object, not a list")
        body = admin_input.only_fields(body, {"qpm", "tpm"}, "limits")
        gw.policy.set_limits(qpm=admin_input.count("qpm", body.get("qpm")),
                             tpm=admin_input.count("tpm", body.get("tpm")))
        return JSONResponse({"qpm": gw.policy.limits.qpm, "tpm": gw.policy.limits.tpm})

    async def reset(request: Request) -> Response:
        gw.reset()
        return JSONResponse({"reset": True})

    return [
        Route(f"{ADMIN_PREFIX}/ledger", guarded(ledger), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/script", guarded(script), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/faults", guarded(faults), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/limits", guarded(limits), methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/reset", guarded(reset), methods=["POST"]),
    ]
