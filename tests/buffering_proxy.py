"""A real reverse proxy for tests: in front of any server on 127.0.0.1, it forwards each
request and holds the answer back until ``buffer`` bytes have gathered (0: every chunk at
once), as a gateway with a fixed-size flush policy does. Used to prove that the streaming
checks (upstream timing, and the heuristic without an upstream) catch such a gateway.
"""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send


class BufferingProxy:
    """A real reverse proxy in front of the mock that flushes every ``buffer`` bytes (0: each chunk)."""

    def __init__(self, upstream: str, buffer: int) -> None:
        self.upstream = upstream
        self.buffer = buffer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() != b"host"}
        async with httpx.AsyncClient(timeout=30) as http, http.stream(
                scope["method"], self.upstream + scope["path"], content=body, headers=headers) as answer:
            await send({"type": "http.response.start", "status": answer.status_code,
                        "headers": [(k.encode(), v.encode()) for k, v in answer.headers.items()
                                    if k.lower() not in ("content-length", "transfer-encoding")]})
            held = b""
            async for chunk in answer.aiter_raw():
                held += chunk
                if len(held) >= self.buffer:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
                    held = b""
            await send({"type": "http.response.body", "body": held, "more_body": False})
