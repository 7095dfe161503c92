"""A deliberately broken gateway: the mistakes real gateways make, as an ASGI wrapper.

``gateway-conformance serve --break buffer-streams,rewrite-errors`` runs the mock behind
this wrapper so a platform team (and this project's own tests) can watch the suite catch
each mistake, and the upgrade diff name exactly the checks it breaks. Every breakage acts on
the wire only, as a proxy in front of a healthy upstream would; the core never knows.
With no breakage the wrapper is not installed at all, so the data path pays nothing.

Connection-level faults injected through the admin routes (``drop_connection``,
``cut_after_events``) need uvicorn's own ``send`` and are not available behind it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_conformance.sse import SSEParser

#: name -> what the broken gateway does (the ``serve --break`` help lists these).
BREAKAGES: dict[str, str] = {
    "buffer-streams": "hold each event stream until it is complete, then send it in one write",
    "drop-stream-event": "drop the last event of every stream (message_stop, response.completed, "
                         "[DONE], Gemini's finishReason chunk)",
    "rewrite-errors": "replace every error body with the gateway's own {error_code, message}",
    "strip-anthropic-beta": "remove the anthropic-beta request header before the upstream sees it",
}


def parse_breakages(spec: str | Iterable[str]) -> frozenset[str]:
    """``"a,b"`` (or several such strings) -> the set, refusing unknown names by listing the known."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    names = frozenset(n.strip() for part in parts for n in part.split(",") if n.strip())
    unknown = sorted(names - BREAKAGES.keys())
    if unknown:
        raise ValueError(f"unknown breakage {', '.join(unknown)}; known: {', '.join(BREAKAGES)}")
    return names


def break_gateway(app: ASGIApp, breakages: Collection[str]) -> ASGIApp:
    """``app`` behind the named breakages; ``app`` itself when there are none."""
    chosen = parse_breakages(breakages)
    return _BrokenGateway(app, chosen) if chosen else app


def _header(message: Message, name: bytes) -> str:
    for key, value in message.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _is_stream(start: Message) -> bool:
    return _header(start, b"content-type").startswith("text/event-stream")


class _BrokenGateway:
    def __init__(self, app: ASGIApp, breakages: frozenset[str]) -> None:
        self.app = app
        self.breakages = breakages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "strip-anthropic-beta" in self.breakages:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"anthropic-beta"]
            scope = {**scope, "headers": headers}
        # Innermost first: what the app sends passes each wrapper in this order.
        if "buffer-streams" in self.breakages:
            send = _BufferStreams(send)
        if "rewrite-errors" in self.breakages:
            send = _RewriteErrors(send)
        if "drop-stream-event" in self.breakages:
            send = _DropLastEvent(send)
        await self.app(scope, receive, send)


class _BufferStreams:
    """Streams leave only when complete: what a gateway that reads the upstream's whole
    response before answering does (Claude Code then sees nothing until the very end)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and _is_stream(message):
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self.send(self.start)
            await self.send({"type": "http.response.body", "body": b"".join(self.chunks), "more_body": False})


class _RewriteErrors:
    """Error bodies replaced by the gateway's own envelope: the upstream's wording (which
    Claude Code's recovery matches on) and the surface's error shape are both lost."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None
        self.start: Message | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self.status, self.start = message["status"], message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        if message.get("more_body", False):
            return  # the upstream's error body is discarded, whatever its size
        assert self.status is not None
        code = HTTPStatus(self.status).name if self.status in HTTPStatus._value2member_map_ else "ERROR"
        message = f"Upstream request failed ({self.status})"
        body = json.dumps({"error_code": code, "message": message}).encode()
        headers = [(k, v) for k, v in self.start.get("headers", [])
                   if k.lower() not in (b"content-length", b"content-type")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


class _DropLastEvent:
    """Every event is sent once the next one is known; the last one never is."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.parser: SSEParser | None = None
        self.held: bytes | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and _is_stream(message):
            self.parser = SSEParser()
        if self.parser is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        out: list[bytes] = []
        for event in self.parser.feed(message.get("body", b"")):
            if self.held is not None:
                out.append(self.held)
            self.held = event.encode()
        more = message.get("more_body", False)
        if out or not more:
            await self.send({"type": "http.response.body", "body": b"".join(out), "more_body": more})
