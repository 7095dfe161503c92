"""Fixtures the wire checks share: one case per agent, and that agent's surface, client and model.

Here rather than in the plugin: they exist only while the shipped suite runs, so a project that
installs the plugin never sees them (the plugin's own fixtures are the ``gwc_`` ones).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_conformance.checks import catalogue_of
from gateway_conformance.remote import RemoteClient
from gateway_conformance.roster import agent_surfaces
from gateway_conformance.target import Target


def roster(config: pytest.Config) -> dict[str, str]:
    """Agent -> surface: the shipped ``agent.toml`` folders and those under each ``--agents-dir``."""
    return agent_surfaces(Path(p) for p in config.getoption("agents_dir", None) or [])


def _parametrizes_agent(metafunc: pytest.Metafunc) -> bool:
    """The test names its own ``agent`` values (e.g. user agents -> the agent they identify)."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "agent" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test asking for ``agent`` runs once per agent of the roster its check is for (a
    new agent folder adds its own cases, with no code change): a check about some surfaces
    (count_tokens: Anthropic and Gemini) runs for the agents speaking them."""
    if "agent" not in metafunc.fixturenames or _parametrizes_agent(metafunc):
        return
    mark = metafunc.definition.get_closest_marker("gwc_check")
    check = catalogue_of(metafunc.config).get(str(mark.args[0])) if mark and mark.args else None
    agents = [a for a in roster(metafunc.config) if check is None or a in check.agents]
    metafunc.parametrize("agent", agents, ids=agents)


@pytest.fixture
def surface(agent: str, request: pytest.FixtureRequest) -> str:
    return roster(request.config)[agent]


@pytest.fixture
def client(gwc_remote_clients: dict[str, RemoteClient], surface: str) -> RemoteClient:
    """The bounded client for the agent's surface, with the target's auth scheme and headers."""
    return gwc_remote_clients[surface]


@pytest.fixture
def model(gwc_target: Target, agent: str) -> str:
    """The model the target serves for the agent (profile, --model, or the documented one)."""
    return gwc_target.model(agent)
