"""Streamed completions per second through the mock gateway vs a bare ASGI streaming app.

Both servers run in this process on 127.0.0.1 (same uvicorn helper) and send the same SSE
bytes for the same request; the bare app just replays them, so the ratio is the cost of
the mock's auth, parsing, policy, responder, rendering and ledger. Rounds alternate and the
best round of each counts, to damp noise on a shared machine. Target: ratio <= 1.2.

    python benchmarks/gateway_stream.py [--requests 400] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from gateway_conformance.gateway import anthropic
from gateway_conformance.gateway.app import GatewayConfig, create_gateway
from gateway_conformance.gateway.responders import EchoResponder
from gateway_conformance.server import ServerHandle

TOKEN = "gwc-bench-token"
MODEL = "databricks-claude-opus-4-6"
PROMPT = " ".join(f"word{i}" for i in range(40))
BODY = {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
PATH = "/anthropic/v1/messages"


def bare_app(events: list[bytes]) -> Callable[..., Any]:
    """The baseline: read the body, stream fixed events, one send per event."""
    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            for phase in ("startup", "shutdown"):
                await receive()
                await send({"type": f"lifespan.{phase}.complete"})
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8")]})
        for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return app


async def _round(url: str, requests: int, concurrency: int) -> tuple[float, int]:
    """(completions per second, bytes per completion)."""
    limit = asyncio.Semaphore(concurrency)
    sizes: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one() -> None:
            async with limit, client.stream("POST", url + PATH, json=BODY,
                                            headers={"authorization": f"Bearer {TOKEN}"}) as response:
                response.raise_for_status()
                size = 0
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                sizes.append(size)
        await asyncio.gather(*(one() for _ in range(min(concurrency, requests))))  # warm connections
        sizes.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, sizes[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    gateway = create_gateway(GatewayConfig(tokens={TOKEN: "bench"}))
    request = anthropic.parse_request(BODY, {})
    events = list(anthropic.render_stream(EchoResponder().respond(request), request))
    best = {"bare": 0.0, "mock": 0.0}
    sizes = {}
    with ServerHandle(bare_app(events), name="bare") as bare, ServerHandle(gateway, name="mock") as mock:
        for _ in range(args.rounds):
            for name, server in (("bare", bare), ("mock", mock)):
                rate, sizes[name] = asyncio.run(_round(server.url, args.requests, args.concurrency))
                best[name] = max(best[name], rate)
    ratio = best["bare"] / best["mock"]
    print(json.dumps({"requests": args.requests, "concurrency": args.concurrency,
                      "events_per_stream": len(events),
                      "bytes_per_stream": sizes, "bare_per_s": round(best["bare"], 1),
                      "mock_per_s": round(best["mock"], 1), "ratio_bare_over_mock": round(ratio, 3),
                      "target": 1.2, "within_target": ratio <= 1.2}))
    print(f"bare {best['bare']:.1f}/s  mock {best['mock']:.1f}/s  ratio {ratio:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
