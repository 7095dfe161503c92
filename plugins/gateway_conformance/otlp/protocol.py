"""The sink's HTTP/1.1 protocol: uvicorn's h11 one, but requests it cannot parse get an OTLP error too.

Why: a request whose framing is broken (a malformed chunk size, two Content-Lengths, a
garbled request line) never reaches the app; uvicorn answers it with a plain-text 400 of
its own. OTLP/HTTP says every error carries a ``google.rpc.Status``, and a client cannot
tell which layer refused it, so this one answer is a ``Status`` too, in protobuf, OTLP's
default encoding (the request's media type is not known: the request could not be read).

h11 is chosen explicitly rather than uvicorn's "auto" (httptools when installed), so the
sink answers broken requests the same way on every installation.
"""

from __future__ import annotations

import h11
from google.rpc import code_pb2, status_pb2
from uvicorn.protocols.http.h11_impl import H11Protocol

#: The message of that answer: how a client (or the bad-input campaign) tells it from the app's.
UNPARSABLE_MESSAGE = ("the request is not valid HTTP/1.1 (its request line, headers or body framing); "
                      "nothing was stored")
_BODY = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=UNPARSABLE_MESSAGE).SerializeToString()
_RESPONSE = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-protobuf\r\n"
             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BODY), _BODY))


class OtlpH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with its only app-less error answered as an OTLP ``Status``."""

    def send_400_response(self, msg: str) -> None:
        # Written as bytes, not through h11: after some errors (an unknown HTTP version) h11
        # refuses to send anything, and uvicorn's own answer is then lost with an exception.
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # no answer of the app has begun
            self.transport.write(_RESPONSE)
        self.transport.close()
