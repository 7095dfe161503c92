"""Run any ASGI app on 127.0.0.1 in a background thread.

One helper serves the mock gateway, the OTLP sink, the recording proxy and the bare
baseline app of the benchmarks, so every server in the harness starts, reports its URL and
stops the same way. The socket is bound before uvicorn starts, so the OS-chosen port is
known without racing the server.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"

_BIND_FIXES = {
    errno.EADDRINUSE: "another process listens there: choose another port, or 0 for any free one",
    errno.EADDRNOTAVAIL: "it is not an address of this machine: bind 127.0.0.1 or one of its own addresses",
    errno.EACCES: "ports below 1024 need privileges: choose a port above 1023, or 0 for any free one",
}


class BindError(OSError):
    """The socket cannot listen on the address; the message names it, the reason and the fix."""


def _bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        code = getattr(exc, "errno", None) or errno.EINVAL
        reason = getattr(exc, "strerror", None) or str(exc)
        fix = _BIND_FIXES.get(code, "check --host and --port")
        raise BindError(code, f"cannot listen on {host}:{port}: {reason}; {fix}") from None


#: How long an idle keep-alive connection stays open. Longer than clients keep idle pooled
#: connections (httpx: 5 s), so the client always lets go first: with both at uvicorn's 5 s
#: default, a request sent on a pooled connection just as the server closes it fails with
#: "connection reset by peer" (seen under load in the streaming checks and the sink's load run).
KEEP_ALIVE_SECONDS = 30.0


class ServerHandle:
    """A running uvicorn server; a context manager that stops it on exit."""

    def __init__(self, app: Callable[..., Any], *, host: str = LOOPBACK, port: int = 0,
                 name: str = "asgi", http: type[asyncio.Protocol] | str = "auto") -> None:
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it
        # every small write (an SSE event, a keep-alive response) waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind(self._sock, host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5, ws="none", http=http,
                                timeout_keep_alive=KEEP_ALIVE_SECONDS)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"{name}-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerHandle:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} exited during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on {self.url} did not start within {timeout}s")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to shut down gracefully (the app's lifespan shutdown runs) and wait."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServerHandle:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
