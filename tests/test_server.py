"""The one server helper every mock, sink and proxy runs on."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway_conformance.server import ServerHandle


def _app() -> Starlette:
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])


def test_idle_connections_outlive_the_clients_pool() -> None:
    """A client must always be the one to drop an idle pooled connection: if the server closed it
    first, a request sent on it at that moment would fail with "connection reset by peer"."""
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    with ServerHandle(_app()) as server:
        assert server._server.config.timeout_keep_alive > client_expiry
        with httpx.Client() as client:  # and the server still answers on a reused connection
            assert [client.get(server.url + "/").text for _ in range(2)] == ["ok", "ok"]
