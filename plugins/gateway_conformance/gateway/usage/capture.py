"""What one request carried on the wire, for the inference table: body in, status and body out.

The capture sits on the raw ASGI ``receive``/``send`` of an endpoint, so every path that
answers (surface responders, errors, recorded-cassette replay, injected faults) is logged the
same way and what is logged is what travelled, not what the mock meant to send. Headers are
never captured here: the inference row takes an allow-list from the ledger record.

Memory stays bounded per request: past ``limit`` bytes a body is no longer kept and the row
says so (``logging_error_codes``), as Databricks does for payloads over its size limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import Message, Receive, Send

#: Bytes kept per body; longer ones are dropped whole (a cut JSON body helps nobody).
MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclass
class Body:
    """One direction's bytes, up to ``limit``; ``overflow`` once more arrived."""

    limit: int = MAX_PAYLOAD_BYTES
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    overflow: bool = False

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow = True
            self.chunks.clear()
        elif not self.overflow:
            self.chunks.append(chunk)

    def data(self) -> bytes | None:
        """The whole body, or None if it overflowed."""
        return None if self.overflow else b"".join(self.chunks)


@dataclass
class Exchange:
    """The request and response bodies of one request, plus the response's media type."""

    request: Body = field(default_factory=Body)
    response: Body = field(default_factory=Body)
    content_type: str = ""
    status: int = 0

    def receive(self, receive: Receive) -> Receive:
        """``receive`` that also keeps the request body."""
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.request.add(message.get("body", b""))
            return message
        return wrapped

    def send(self, send: Send, before_last: Callable[[], None]) -> Send:
        """``send`` that keeps the response body and calls ``before_last`` just before the
        last body message leaves (so a client that read it all finds the request recorded)."""
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        self.content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                self.response.add(message.get("body", b""))
                if not message.get("more_body", False):
                    before_last()
            await send(message)
        return wrapped

    @property
    def streamed(self) -> bool:
        return self.content_type.startswith("text/event-stream")
