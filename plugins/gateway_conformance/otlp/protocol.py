"""The sink's HTTP/1.1 protocol: uvicorn's h11 one, plus the two answers uvicorn leaves out.

Why each:

- **Requests it cannot parse get an OTLP error.** A request whose framing is broken (a
  malformed chunk size, two Content-Lengths, a garbled request line) never reaches the app;
  uvicorn answers it with a plain-text 400 of its own. OTLP/HTTP says every error carries a
  ``google.rpc.Status``, and a client cannot tell which layer refused it, so this answer is a
  ``Status`` too, in protobuf, OTLP's default encoding (the request's type is unknown: the
  request could not be read).
- **A request head has a deadline.** uvicorn has none: a client that sends a header byte now
  and then (slowloris on the head) holds its connection forever, and no request ever reaches
  the app, whose body deadline would cut it off. Here a head that has not arrived
  ``head_timeout`` seconds after the connection opened (or after the previous response)
  gets 408 and the connection closes. An idle kept-alive connection is uvicorn's: its
  keep-alive timeout closes it first, quietly.

h11 is chosen explicitly rather than uvicorn's "auto" (httptools when installed), so the
sink behaves the same on every installation.
"""

from __future__ import annotations

import asyncio

import h11
from google.rpc import code_pb2, status_pb2
from uvicorn.protocols.http.h11_impl import H11Protocol

#: The message of the 400: how a client (or the bad-input campaign) tells it from the app's.
UNPARSABLE_MESSAGE = ("the request is not valid HTTP/1.1 (its request line, headers or body framing); "
                      "nothing was stored")


def _raw_response(status: str, message: str) -> bytes:
    body = status_pb2.Status(code={400: code_pb2.INVALID_ARGUMENT, 408: code_pb2.DEADLINE_EXCEEDED}[
        int(status.split()[0])], message=message).SerializeToString()
    return (b"HTTP/1.1 %s\r\ncontent-type: application/x-protobuf\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status.encode(), len(body), body))


_UNPARSABLE = _raw_response("400 Bad Request", UNPARSABLE_MESSAGE)


class OtlpH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with its app-less answers in the OTLP error shape and a head deadline."""

    head_timeout: float = 30.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request, which disarms it again
        self._arm_head_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        if self._request_in_progress():
            self._disarm_head_deadline()  # the head is complete: the body's deadline is the app's

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # Written as bytes, not through h11: after some errors (an unknown HTTP version) h11
        # refuses to send anything, and uvicorn's own answer is then lost with an exception.
        self._answer_and_close(_UNPARSABLE)

    def _request_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        if not self._request_in_progress() and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._request_in_progress() or self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a head arrived: say why the connection closes
            self._answer_and_close(_raw_response(
                "408 Request Timeout", f"the request head did not arrive within {self.head_timeout:g} s"))
        else:
            self.transport.close()

    def _answer_and_close(self, response: bytes) -> None:
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # no answer of the app has begun
            self.transport.write(response)
        self.transport.close()


def otlp_protocol(head_timeout: float) -> type[OtlpH11Protocol]:
    """The protocol class for one sink (uvicorn takes a class, and builds one per connection)."""
    return type("OtlpH11Protocol", (OtlpH11Protocol,), {"head_timeout": head_timeout})
