"""Gateway fixtures: one mock per session, clean state per test.

The server is session-scoped because starting uvicorn per test would dominate the run; the
per-test handles (script, faults, ledger, clock, policy) reset the shared mock when a test
takes them and again when it ends, so no test sees another's queued turns, faults, limits
or records. Against an external target (``--gateway-url``) the URLs and token fixtures point
there and every handle skips: they need the mock's internals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway_conformance.gateway.app import (
    Gateway,
    GatewayConfig,
    create_gateway,
    default_surfaces,
    new_token,
)
from gateway_conformance.gateway.faults import FaultQueue
from gateway_conformance.gateway.ledger import Ledger
from gateway_conformance.gateway.policy import ManualClock, Policy
from gateway_conformance.gateway.protocol import GatewayH11Protocol
from gateway_conformance.gateway.responders import ScriptedResponder
from gateway_conformance.secret import Secret
from gateway_conformance.server import ServerHandle
from gateway_conformance.target import external_token, target_of

__all__ = [
    "LEFTOVERS_MARKER",
    "RunningGateway",
    "gwc_clean_gateway",
    "gwc_gateway",
    "gwc_gateway_clock",
    "gwc_gateway_faults",
    "gwc_gateway_ledger",
    "gwc_gateway_policy",
    "gwc_gateway_restricted_token",
    "gwc_gateway_script",
    "gwc_gateway_token",
    "gwc_gateway_urls",
]

IDENTITY = "conformance"
RESTRICTED_IDENTITY = "restricted"
# The restricted token may use only this model, so any other known model answers 403.
RESTRICTED_MODELS = ("databricks-claude-haiku-4-5",)


@dataclass
class RunningGateway:
    """The embedded mock on 127.0.0.1: its core object, server, clock and tokens."""

    core: Gateway
    server: ServerHandle
    clock: ManualClock

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url + prefix for name, prefix in self.core.prefixes().items()}

    @property
    def token(self) -> Secret:
        return Secret(self.core.config.token_for(IDENTITY))

    @property
    def restricted_token(self) -> Secret:
        return Secret(self.core.config.token_for(RESTRICTED_IDENTITY))

    @property
    def admin_token(self) -> Secret:
        """The only token the mock's ``/_admin`` routes take (contract C2)."""
        return self.core.admin_token


def _external_url(config: pytest.Config) -> str | None:
    return config.getoption("gateway_url", default=None)


@pytest.fixture(scope="session")
def gwc_gateway(request: pytest.FixtureRequest) -> Iterator[RunningGateway]:
    """The embedded mock, started once per session (skips against an external target)."""
    if _external_url(request.config):
        pytest.skip("needs the embedded mock's internals; running against --gateway-url")
    clock = ManualClock()
    tokens = {Secret(new_token()): IDENTITY, Secret(new_token()): RESTRICTED_IDENTITY}  # remembered: scrubbed
    core = create_gateway(GatewayConfig(
        tokens={token.reveal(): identity for token, identity in tokens.items()},
        permissions={RESTRICTED_IDENTITY: RESTRICTED_MODELS}, clock=clock))
    with ServerHandle(core, name="gateway", http=GatewayH11Protocol) as server:
        yield RunningGateway(core=core, server=server, clock=clock)


@pytest.fixture(scope="session")
def gwc_gateway_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Base URL per surface name (``anthropic``, ``openai``, ``cursor``, ``gemini``)."""
    target = target_of(request.config)
    if target.external:
        return {s.name: target.surface_url(s.name) for s in default_surfaces()}
    return request.getfixturevalue("gwc_gateway").urls


@pytest.fixture(scope="session")
def gwc_gateway_token(request: pytest.FixtureRequest) -> Secret:
    """A token the target accepts for every model (from the profile's ``token_env`` or
    ``--token-env`` when external)."""
    if _external_url(request.config):
        return external_token(request.config)
    return request.getfixturevalue("gwc_gateway").token


@pytest.fixture(scope="session")
def gwc_gateway_restricted_token(gwc_gateway: RunningGateway) -> Secret:
    """A token allowed only :data:`RESTRICTED_MODELS`: the way to provoke a 403."""
    return gwc_gateway.restricted_token


#: Marks a test that leaves scripted turns or faults unused on purpose.
LEFTOVERS_MARKER = "gwc_allow_leftovers"
#: Set by the plugin when a test's setup or call failed or skipped: its leftovers are no news then.
TEST_FAILED = pytest.StashKey[bool]()


def leftovers(core: Gateway) -> str | None:
    """The sentence naming every scripted turn and fault still queued, or None."""
    turns, faults = core.script.queued(), core.faults.pending()
    if not turns and not faults:
        return None
    parts = []
    if turns:
        parts.append(f"{len(turns)} scripted turn{'s' * (len(turns) != 1)} never requested: "
                     + "; ".join(turn.describe() for turn in turns))
    if faults:
        parts.append(f"{len(faults)} fault{'s' * (len(faults) != 1)} never fired: "
                     + "; ".join(fault.describe() for fault in faults))
    return (". ".join(parts) + ". A reply or fault the test never met proves nothing: send the requests "
            f"they were queued for, or mark the test @pytest.mark.{LEFTOVERS_MARKER} if that is intended.")


@pytest.fixture
def gwc_clean_gateway(request: pytest.FixtureRequest, gwc_gateway: RunningGateway) -> Iterator[Gateway]:
    """The mock's core, reset before and after the test. A scripted turn or fault still
    queued when a passing test ends fails it, listed (unless marked ``gwc_allow_leftovers``)."""
    gwc_gateway.core.reset()
    yield gwc_gateway.core
    node = request.node
    strict = not (node.get_closest_marker(LEFTOVERS_MARKER) or node.stash.get(TEST_FAILED, False))
    message = leftovers(gwc_gateway.core) if strict else None
    gwc_gateway.core.reset()
    if message:
        pytest.fail(message, pytrace=False)


@pytest.fixture
def gwc_gateway_script(gwc_clean_gateway: Gateway) -> ScriptedResponder:
    """Queue the next replies: ``.text(...)``, ``.tool_call(...)``, ``.error(status)``."""
    return gwc_clean_gateway.script


@pytest.fixture
def gwc_gateway_faults(gwc_clean_gateway: Gateway) -> FaultQueue:
    """Queue faults for the next matching requests, e.g. ``.inject(cut_after_events=3)``.

    Each fault fires once, on the first request it matches.
    """
    return gwc_clean_gateway.faults


@pytest.fixture
def gwc_gateway_ledger(gwc_clean_gateway: Gateway) -> Ledger:
    """This test's usage records (the ledger is emptied when the test starts)."""
    return gwc_clean_gateway.ledger


@pytest.fixture
def gwc_gateway_policy(gwc_clean_gateway: Gateway) -> Policy:
    """Change limits or permissions for this test: ``.set_limits(qpm=1)``, ``.allow(identity, models)``."""
    return gwc_clean_gateway.policy


@pytest.fixture
def gwc_gateway_clock(gwc_gateway: RunningGateway, gwc_clean_gateway: Gateway) -> ManualClock:
    """The rate limiter's clock: ``.advance(seconds)`` clears windows without sleeping."""
    return gwc_gateway.clock
