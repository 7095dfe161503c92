"""Fixtures of the target profile.

``gwc_remote_clients`` are the :class:`~gateway_conformance.remote.RemoteClient` per surface
that the any-target checks use (same URLs and token as ``gwc_gateway_urls``/``gwc_gateway_token``).
``gwc_sdk_transport`` is the one place an official SDK check gets its HTTP transport from (the
surface's credential form and headers, :mod:`gateway_conformance.sdk_http`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from gateway_conformance import sdk_http
from gateway_conformance.remote import RemoteClient
from gateway_conformance.secret import Secret
from gateway_conformance.target import Target, target_of

__all__ = ["gwc_remote_clients", "gwc_sdk_transport", "gwc_target"]


@pytest.fixture(scope="session")
def gwc_target(request: pytest.FixtureRequest) -> Target:
    """The target of this run (profile + options): URLs, surfaces, token variables, models, claims."""
    return target_of(request.config)


@pytest.fixture(scope="session")
def gwc_remote_clients(gwc_target: Target, gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret,
                   ) -> Iterator[dict[str, RemoteClient]]:
    """Surface name -> a bounded client for that surface's base URL, with the target's token
    sent in the surface's auth scheme, and the surface's extra headers."""
    profiles = {surface: gwc_target.surface(surface) for surface in gwc_gateway_urls}
    clients = {surface: RemoteClient(url, gwc_gateway_token, timeouts=gwc_target.timeouts,
                                     auth=profiles[surface].auth, headers=profiles[surface].headers)
               for surface, url in gwc_gateway_urls.items()}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def gwc_sdk_transport(gwc_target: Target, gwc_gateway_token: Secret) -> Callable[..., Any]:
    """``sdk_transport(httpx2, surface, token=...)``: the transport to hand an official SDK
    (built with :data:`~gateway_conformance.sdk_http.PLACEHOLDER` as its credential) for one
    surface; ``token`` defaults to the target's (a plain ``str`` for a deliberately wrong one)."""
    def make(http: ModuleType, surface: str, token: Secret | str | None = gwc_gateway_token) -> Any:
        profile = gwc_target.surface(surface)
        return sdk_http.transport(http, auth=profile.auth, headers=profile.headers, token=token)
    return make

