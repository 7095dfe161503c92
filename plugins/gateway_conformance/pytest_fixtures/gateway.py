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
    "clean_gateway",
    "gateway",
    "gateway_clock",
    "gateway_faults",
    "gateway_ledger",
    "gateway_policy",
    "gateway_restricted_token",
    "gateway_script",
    "gateway_token",
    "gateway_urls",
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
def gateway(request: pytest.FixtureRequest) -> Iterator[RunningGateway]:
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
def gateway_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Base URL per surface name (``anthropic``, ``openai``, ``cursor``, ``gemini``)."""
    target = target_of(request.config)
    if target.external:
        return {s.name: target.surface_url(s.name) for s in default_surfaces()}
    return request.getfixturevalue("gateway").urls


@pytest.fixture(scope="session")
def gateway_token(request: pytest.FixtureRequest) -> Secret:
    """A token the target accepts for every model (from the profile's ``token_env`` or
    ``--token-env`` when external)."""
    if _external_url(request.config):
        return external_token(request.config)
    return request.getfixturevalue("gateway").token


@pytest.fixture(scope="session")
def gateway_restricted_token(gateway: RunningGateway) -> Secret:
    """A token allowed only :data:`RESTRICTED_MODELS`: the way to provoke a 403."""
    return gateway.restricted_token


#: Marks a test that leaves scripted turns or faults unused on purpose.
LEFTOVERS_MARKER = "gateway_allow_leftovers"
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
def clean_gateway(request: pytest.FixtureRequest, gateway: RunningGateway) -> Iterator[Gateway]:
    """The mock's core, reset before and after the test. A scripted turn or fault still
    queued when a passing test ends fails it, listed (unless marked ``gateway_allow_leftovers``)."""
    gateway.core.reset()
    yield gateway.core
    node = request.node
    strict = not (node.get_closest_marker(LEFTOVERS_MARKER) or node.stash.get(TEST_FAILED, False))
    message = leftovers(gateway.core) if strict else None
    gateway.core.reset()
    if message:
        pytest.fail(message, pytrace=False)


@pytest.fixture
def gateway_script(clean_gateway: Gateway) -> ScriptedResponder:
    """Queue the next replies: ``.text(...)``, ``.tool_call(...)``, ``.error(status)``."""
    return clean_gateway.script


@pytest.fixture
def gateway_faults(clean_gateway: Gateway) -> FaultQueue:
    """Queue faults for the next matching requests, e.g. ``.inject(cut_after_events=3)``.

    Each fault fires once, on the first request it matches.
    """
    return clean_gateway.faults


@pytest.fixture
def gateway_ledger(clean_gateway: Gateway) -> Ledger:
    """This test's usage records (the ledger is emptied when the test starts)."""
    return clean_gateway.ledger


@pytest.fixture
def gateway_policy(clean_gateway: Gateway) -> Policy:
    """Change limits or permissions for this test: ``.set_limits(qpm=1)``, ``.allow(identity, models)``."""
    return clean_gateway.policy


@pytest.fixture
def gateway_clock(gateway: RunningGateway, clean_gateway: Gateway) -> ManualClock:
    """The rate limiter's clock: ``.advance(seconds)`` clears windows without sleeping."""
    return gateway.clock
