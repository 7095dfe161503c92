"""Every agent the harness knows, by name: its spec (data) paired with its renderer (code)."""

from __future__ import annotations

from gateway_conformance.agents import claude_code, codex, cursor, gemini_cli
from gateway_conformance.agents.base import Agent, AgentSpec, Renderer
from gateway_conformance.roster import agent_name

# Keyed by the agent's one spelling (its folder's name); the Python modules are underscored.
_RENDERERS: dict[str, Renderer] = {
    "claude-code": claude_code.render,
    "codex": codex.render,
    "gemini-cli": gemini_cli.render,
    "cursor": cursor.render,
}


def names() -> list[str]:
    return list(_RENDERERS)


def canonical(name: str) -> str:
    """``claude_code`` -> ``claude-code``: agents are spelled with dashes everywhere (folders,
    options, reports); the underscore spelling is still accepted as input."""
    return agent_name(name)


def get(name: str) -> Agent:
    """The agent called ``name`` (``claude-code``, ``codex``, ``gemini-cli``, ``cursor``, or underscored)."""
    name = canonical(name)
    if name not in _RENDERERS:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(_RENDERERS)}")
    return Agent(spec=AgentSpec.load(name), render=_RENDERERS[name])


def all_agents() -> list[Agent]:
    return [get(name) for name in names()]
