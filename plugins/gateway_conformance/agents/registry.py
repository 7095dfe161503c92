"""Every agent the harness knows, by name: its spec (data) paired with its renderer (code)."""

from __future__ import annotations

from gateway_conformance.agents import claude_code, codex, cursor, gemini_cli
from gateway_conformance.agents.base import Agent, AgentSpec, Renderer

_RENDERERS: dict[str, Renderer] = {
    "claude_code": claude_code.render,
    "codex": codex.render,
    "gemini_cli": gemini_cli.render,
    "cursor": cursor.render,
}


def names() -> list[str]:
    return list(_RENDERERS)


def canonical(name: str) -> str:
    """``claude-code`` -> ``claude_code``: the suite's options and the docs spell agents with
    dashes (as their CLIs do), the fixture folders with underscores; both are accepted."""
    return name.replace("-", "_")


def get(name: str) -> Agent:
    """The agent called ``name`` (``claude_code``, ``codex``, ``gemini_cli``, ``cursor``, or dashed)."""
    name = canonical(name)
    if name not in _RENDERERS:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(_RENDERERS)}")
    return Agent(spec=AgentSpec.load(name), render=_RENDERERS[name])


def all_agents() -> list[Agent]:
    return [get(name) for name in names()]
