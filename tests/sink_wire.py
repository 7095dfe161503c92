"""Talking to the OTLP sink below httpx: raw sockets for slow, broken and hostile requests.

The sink's hardening tests and its bad-input campaign need requests no HTTP client sends
(a head and then a trickle, a chunk size of 2**72, a body cut short), and to read whatever
comes back, whether or not the request was finished. Responses are parsed here with the
few rules uvicorn's answers need (a status line, headers, a Content-Length body).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.rpc import status_pb2

from gateway_conformance.otlp.signals import Signal
from gateway_conformance.otlp.sink import SinkHandle

TOKEN = "gc-test-sink-token"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def otlp_headers(sink: SinkHandle, signal: Signal = "metrics", **overrides: str) -> dict[str, str]:
    """Exactly the documented headers; ``overrides`` (``_`` for ``-``) replace them, "" removes one."""
    sent = {"content-type": PROTOBUF, "authorization": f"Bearer {TOKEN}",
            "x-databricks-uc-table-name": str(sink.table_names[signal])}
    for key, value in overrides.items():
        sent[key.replace("_", "-").lower()] = value
    return {key: value for key, value in sent.items() if value}


def request_head(sink: SinkHandle, signal: Signal = "metrics", *, framing: str = "",
                 **overrides: str) -> bytes:
    """The bytes of a POST head to the signal's endpoint; ``framing`` is the body's framing
    header line(s) (``content-length: N`` or ``transfer-encoding: chunked``)."""
    path = sink.endpoint(signal).removeprefix(sink.workspace_url)
    lines = [f"POST {path} HTTP/1.1", f"host: {sink.server.host}:{sink.server.port}"]
    lines += [f"{key}: {value}" for key, value in otlp_headers(sink, signal, **overrides).items()]
    if framing:
        lines.append(framing)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def describe(self) -> str:
        content_type = self.headers.get("content-type", "(no content-type)")
        return f"HTTP {self.status} {content_type} {self.body[:120]!r}"


def connect(sink: SinkHandle, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((sink.server.host, sink.server.port), timeout=timeout)


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send, or report False if the server already closed the connection (it may answer
    and close before the request ends: that is what a deadline or a refusal does)."""
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def read_response(sock: socket.socket, timeout: float) -> RawResponse | None:
    """The next response on ``sock``, or None if the connection closed or ``timeout`` passed
    before a whole response arrived."""
    deadline = time.monotonic() + timeout
    data = b""

    def more() -> bool:
        nonlocal data
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            return False
        data += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in data:
        if not more():
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        if not more():
            return None
        body = data.partition(b"\r\n\r\n")[2]
    return RawResponse(int(status_line.split()[1]), headers, body[:length])


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``condition`` came true within ``seconds``: the sink gives bytes back and ends
    requests on its own threads, a moment after the answer that a test has already read."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def status_message(content_type: str, body: bytes) -> status_pb2.Status:
    """The ``google.rpc.Status`` in ``body``, read per its media type (ValueError if it is not one)."""
    media_type = content_type.split(";", 1)[0].strip()
    if media_type == PROTOBUF:
        return status_pb2.Status.FromString(body)
    if media_type == JSON:
        document = json.loads(body)
        if not isinstance(document, dict) or set(document) - {"code", "message", "details"}:
            raise ValueError(f"not a google.rpc.Status in JSON: {body[:120]!r}")
        return status_pb2.Status(code=document.get("code", 0), message=document.get("message", ""))
    raise ValueError(f"error body of type {content_type!r}, not a google.rpc.Status: {body[:120]!r}")
