"""The recording proxy: sits between an agent and an upstream gateway and writes a cassette.

Record/replay tools usually buffer a streamed body and lose what matters here: event
boundaries and timing. This proxy passes every chunk on the moment httpx yields it, and
feeds the same chunk to the incremental SSE parser on the side, stamping each completed
event with its offset from the request start. The client sees the upstream's stream
unchanged and unbuffered; the cassette gets every event, its timing and its exact bytes.

Requests go upstream with ``accept-encoding: identity`` so the bytes seen (and stored) are
the body itself, not a gzip encoding of it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway_conformance.server import ServerHandle
from gateway_conformance.sse import SSEParser
from gateway_conformance.traffic.cassette import (
    Cassette,
    Interaction,
    Metadata,
    RecordedEvent,
    RecordedRequest,
    RecordedResponse,
    clean_headers,
    decode_body,
    is_sse,
)
from gateway_conformance.traffic.redact import Redactor, ensure_clean

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class RecordingProxy:
    """An ASGI app forwarding everything to ``upstream`` and keeping each exchange.

    ``injected_statuses``: responses with these statuses are marked ``injected_fault`` (the
    recording set up the upstream to fail on purpose, e.g. one 429 before a retry).
    ``on_interaction`` is called after each finished exchange (progress output).
    """

    def __init__(self, upstream: str, *, injected_statuses: Collection[int] = (),
                 timeout: float = 600.0,
                 on_interaction: Callable[[Interaction], None] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.injected_statuses = frozenset(injected_statuses)
        self.interactions: list[Interaction] = []
        self._order: list[tuple[float, Interaction]] = []
        self._lock = threading.Lock()
        self._timeout = timeout
        self._on_interaction = on_interaction
        self._client: httpx.AsyncClient | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self._forward, methods=METHODS)],
                             lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(self._timeout, connect=10.0)) as client:
            self._client = client
            yield
            self._client = None

    async def _forward(self, request: Request) -> Response:
        assert self._client is not None, "proxy used outside its lifespan"
        t0 = time.perf_counter()
        body = await request.body()
        req_headers = clean_headers(request.headers)
        data, text = decode_body(body, req_headers)
        recorded_req = RecordedRequest(
            method=request.method, path=request.url.path,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            headers=req_headers, body=data, body_text=text)
        out_headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("host", "content-length", "accept-encoding", "connection")}
        out_headers["accept-encoding"] = "identity"
        url = self.upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        upstream_req = self._client.build_request(request.method, url, headers=out_headers, content=body)
        try:
            upstream = await self._client.send(upstream_req, stream=True)
        except httpx.HTTPError as exc:
            return Response(f"recording proxy: upstream {self.upstream} failed: {exc!r}\n",
                            status_code=502, media_type="text/plain")
        t_headers = _ms(t0)
        resp_headers = clean_headers(upstream.headers)
        passthrough = {k: v for k, v in upstream.headers.items()
                       if k.lower() not in ("content-length", "transfer-encoding", "content-encoding",
                                            "connection")}
        return StreamingResponse(
            self._relay(upstream, recorded_req, resp_headers, t0, t_headers),
            status_code=upstream.status_code, headers=passthrough)

    async def _relay(self, upstream: httpx.Response, req: RecordedRequest, headers: dict[str, str],
                     t0: float, t_headers: float) -> AsyncIterator[bytes]:
        """Yield each chunk as it arrives; parse and time events on the side."""
        sse = is_sse(headers)
        parser = SSEParser()
        events: list[RecordedEvent] = []
        body = bytearray()
        try:
            async for chunk in upstream.aiter_bytes():
                yield chunk
                if sse:
                    now = _ms(t0)
                    events.extend(RecordedEvent(now, ev) for ev in parser.feed(chunk))
                else:
                    body += chunk
        finally:
            await upstream.aclose()
            t_end = _ms(t0)
            if sse:
                resp = RecordedResponse(upstream.status_code, headers, events=events,
                                        tail=parser.close(), t_headers_ms=t_headers, t_end_ms=t_end)
            else:
                resp = RecordedResponse.from_body(upstream.status_code, headers, bytes(body),
                                                  t_headers_ms=t_headers, t_end_ms=t_end)
            self._keep(t0, Interaction(req, resp,
                                       injected_fault=upstream.status_code in self.injected_statuses))

    def _keep(self, t0: float, interaction: Interaction) -> None:
        """Interactions are stored in request order, whatever order their streams end in."""
        with self._lock:
            self._order.append((t0, interaction))
            self._order.sort(key=lambda pair: pair[0])
            self.interactions = [i for _, i in self._order]
        if self._on_interaction is not None:
            self._on_interaction(interaction)

    def cassette(self, meta: Metadata, *, known_secrets: Collection[str] = (), redact: bool = True
                 ) -> Cassette:
        """The cassette of everything recorded so far, redacted unless told otherwise; raises
        SecretRemains if any secret pattern is left either way."""
        with self._lock:
            interactions = list(self.interactions)
        cassette = Cassette(meta, [_copy(i) for i in interactions])
        if redact:
            Redactor(known_secrets).cassette(cassette)
        ensure_clean(cassette)
        return cassette


def _copy(inter: Interaction) -> Interaction:
    return Interaction.from_json(inter.to_json())


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


@contextlib.contextmanager
def recording(upstream: str, **kwargs: object) -> Iterator[tuple[RecordingProxy, ServerHandle]]:
    """Run a recording proxy on 127.0.0.1 for the duration of the block."""
    proxy = RecordingProxy(upstream, **kwargs)  # type: ignore[arg-type]
    with ServerHandle(proxy.app, name="recording-proxy") as handle:
        yield proxy, handle
