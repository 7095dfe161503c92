"""The mock gateway's HTTP/1.1 protocol: uvicorn's h11 one, but a request it cannot parse is
answered in JSON that every surface's clients read as an error.

Why: a request whose framing is broken (a negative or doubled Content-Length, a header
without a colon, a NUL in a header) never reaches the app; uvicorn answers it with an empty
``text/plain`` 400 of its own, which no SDK can parse. At that layer the request's path,
and so its surface, is not known, so the body is the union of the three envelopes: the
Anthropic ``{"type": "error", "error": {"type", "message"}}``, OpenAI's ``error.type`` /
``message`` / ``param``, and Google's ``error.code`` / ``status`` / ``message``, all at once.

h11 is named explicitly rather than uvicorn's "auto" (httptools when installed), so the
gateway answers broken requests the same way on every installation.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

UNPARSABLE_MESSAGE = ("The request is not valid HTTP/1.1 (its request line, headers or body framing); "
                      "nothing reached the model.")
UNPARSABLE_BODY = json.dumps({"type": "error", "error": {
    "type": "invalid_request_error", "message": UNPARSABLE_MESSAGE, "param": None,
    "code": 400, "status": "INVALID_ARGUMENT"}}, separators=(",", ":")).encode()
_RESPONSE = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(UNPARSABLE_BODY), UNPARSABLE_BODY))


class GatewayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with its only app-less error answered in every surface's envelope."""

    def send_400_response(self, msg: str) -> None:
        # Written as bytes, not through h11: after some errors (an unknown HTTP version) h11
        # refuses to send anything, and uvicorn's own answer is then lost with an exception.
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # no answer of the app has begun
            self.transport.write(_RESPONSE)
        self.transport.close()
