"""The ``upstream`` fixture and the collection rule of checks marked ``upstream``.

A check marked ``upstream`` steers the provider behind the gateway and reads what reached it
(:mod:`gateway_conformance.upstream`). It runs

- on the embedded mock (no target): the mock is both the gateway and its own upstream;
- through a real gateway when the target profile has an ``[upstream]`` table naming the
  ``gateway-conformance serve`` the gateway uses as its provider;
- nowhere else: against a gateway without ``[upstream]`` it is skipped, with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from gateway_conformance.secret import Secret
from gateway_conformance.target import Target, target_of
from gateway_conformance.upstream.admin import UpstreamAdmin

__all__ = ["gwc_upstream"]

MARKER = "gwc_upstream"
SKIP_REASON = ("upstream: needs the mock as the gateway's provider; add an [upstream] table "
               "(url, admin_token_env) to the target profile")


def skip_without_upstream(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against a gateway without ``[upstream]``, skip the upstream checks with the reason
    (called from the plugin's ``pytest_collection_modifyitems``)."""
    if not config.getoption("gateway_url") or target_of(config).upstream is not None:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker(MARKER):
            item.add_marker(skip)


def _admin_token(gateway: Any) -> Secret:
    """The embedded mock's admin token (contract C2)."""
    return Secret(gateway.admin_token)


@pytest.fixture(scope="session")
def gwc_upstream(request: pytest.FixtureRequest, gwc_target: Target) -> Iterator[UpstreamAdmin]:
    """The admin client of the provider behind the gateway under test."""
    profile = gwc_target.upstream
    if profile is not None:
        token = os.environ.get(profile.admin_token_env)
        if not token:
            pytest.fail(f"upstream mode: set the upstream's admin token in ${profile.admin_token_env} "
                        f"(named by [upstream] admin_token_env)", pytrace=False)
        admin = UpstreamAdmin(profile.url, Secret(token))
    elif gwc_target.external:
        pytest.skip(SKIP_REASON)
    else:
        gateway = request.getfixturevalue("gwc_gateway")
        admin = UpstreamAdmin(gateway.url, _admin_token(gateway))
    yield admin
    admin.close()
