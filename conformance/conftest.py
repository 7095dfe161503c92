"""Fixtures the wire checks share: one case per agent, and that agent's surface, client and model.

Here rather than in the plugin: they exist only while the shipped suite runs, so a project that
installs the plugin never sees them (the plugin's own fixtures are the ``gwc_`` ones).
"""

from __future__ import annotations

import pytest

from gateway_conformance.remote import RemoteClient
from gateway_conformance.target import AGENT_SURFACES, Target

AGENTS = [pytest.param(agent, id=agent) for agent in AGENT_SURFACES]


@pytest.fixture(params=AGENTS)
def agent(request: pytest.FixtureRequest) -> str:
    """Each agent of the roster in turn (a new agent folder adds its own case)."""
    return request.param


@pytest.fixture
def surface(agent: str) -> str:
    return AGENT_SURFACES[agent]


@pytest.fixture
def client(gwc_remote_clients: dict[str, RemoteClient], surface: str) -> RemoteClient:
    """The bounded client for the agent's surface, with the target's auth scheme and headers."""
    return gwc_remote_clients[surface]


@pytest.fixture
def model(gwc_target: Target, agent: str) -> str:
    """The model the target serves for the agent (profile, --model, or the documented one)."""
    return gwc_target.model(agent)
