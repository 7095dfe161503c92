"""Fixtures of the target profile, and the hooks that make transport failures check failures.

``remote_clients`` are the :class:`~gateway_conformance.remote.RemoteClient` per surface
that the any-target checks use (same URLs and token as ``gateway_urls``/``gateway_token``).
A :class:`~gateway_conformance.remote.RemoteError` raised in a test or a fixture is reported
as that test's failure with the error's one sentence, not as a traceback through httpx.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway_conformance.remote import RemoteClient, RemoteError
from gateway_conformance.secret import Secret
from gateway_conformance.target import Target, target_of

__all__ = ["pytest_runtest_call", "pytest_runtest_setup", "remote_clients", "target"]


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The target of this run (profile + options): URLs, surfaces, token variables, models, claims."""
    return target_of(request.config)


@pytest.fixture(scope="session")
def remote_clients(target: Target, gateway_urls: dict[str, str], gateway_token: Secret,
                   ) -> Iterator[dict[str, RemoteClient]]:
    """Surface name -> a bounded client for that surface's base URL, with the target's token
    sent in the surface's auth scheme, and the surface's extra headers."""
    profiles = {surface: target.surface(surface) for surface in gateway_urls}
    clients = {surface: RemoteClient(url, gateway_token, timeouts=target.timeouts,
                                     auth=profiles[surface].auth, headers=profiles[surface].headers)
               for surface, url in gateway_urls.items()}
    yield clients
    for client in clients.values():
        client.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except RemoteError as exc:  # in a fixture: the test errors, with the one sentence
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except RemoteError as exc:
        pytest.fail(str(exc), pytrace=False)
