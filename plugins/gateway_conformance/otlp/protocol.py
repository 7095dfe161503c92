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

_BODY = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                          message="the request is not valid HTTP/1.1 (its request line, headers or body "
                                  "framing); nothing was read").SerializeToString()


class OtlpH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with its only app-less error answered as an OTLP ``Status``."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/x-protobuf"),
                   (b"content-length", str(len(_BODY)).encode()), (b"connection", b"close")]
        try:
            for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=_BODY),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # a response had already begun: only closing is left
            pass
        self.transport.close()
