"""The agents and their surfaces as data, written once for the judging side.

- the surfaces: their names and where the documentation mounts each under the gateway root
  (read by the target profile, the agent renderers and the check catalogue, below the traffic
  layer). Everything else the judging side knows of a surface (routes under the base path,
  requests, grammar, envelopes) is its module in :mod:`gateway_conformance.surfaces`. The mock
  keeps its own routes (gateway/app.py) on purpose: the official SDKs and the real CLIs judge
  both, so the two must not share one definition and call it verified;
- the agents: ``fixtures/agents/*/agent.toml`` is the only list of agents. An agent has one
  spelling, dashed (``claude-code``: its folder, test IDs, options, reports); the underscore
  spelling (``claude_code``, and a user's folder made before) is accepted as input.

A base module (docs/architecture.md, layer 0): it reads TOML and imports nothing of the package
but :mod:`gateway_conformance.resources`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway_conformance.resources import data_dir

SURFACES: tuple[str, ...] = ("anthropic", "openai", "cursor", "gemini")

# Where the documentation mounts each surface under the gateway root (and `serve` serves it).
BASE_PATHS: Mapping[str, str] = MappingProxyType({
    "anthropic": "/anthropic", "openai": "/openai/v1", "cursor": "/cursor/v1", "gemini": "/gemini"})


def agent_name(raw: str) -> str:
    """``claude_code``, ``Claude-Code`` -> ``claude-code``: the one spelling of an agent's name."""
    return raw.strip().lower().replace("_", "-")


def _specs(extra_roots: Iterable[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(folder name, agent.toml) of every agent folder, shipped first; unreadable ones are left to
    the scaffold's loader, which names the file and the fix (traffic/scaffold.py)."""
    seen: set[Path] = set()
    for root in [data_dir() / "agents", *extra_roots]:
        for spec in sorted(Path(root).glob("*/agent.toml")) if Path(root).is_dir() else ():
            folder = spec.parent.resolve()
            if folder in seen:
                continue
            seen.add(folder)
            try:
                yield folder.name, tomllib.loads(spec.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue


def agent_surfaces(extra_roots: Iterable[Path] = ()) -> dict[str, str]:
    """Agent name -> surface, for the shipped agent folders and those under ``extra_roots``."""
    return {agent_name(name): str(spec["surface"]) for name, spec in _specs(extra_roots)
            if spec.get("surface") in SURFACES}


def documented_agent(surface: str) -> str:
    """The shipped agent that speaks ``surface`` (the first folder, by name): whose model a check
    that is about the surface, not about one agent, asks for."""
    return next(agent for agent, spoken in agent_surfaces().items() if spoken == surface)


def agent_models(extra_roots: Iterable[Path] = ()) -> dict[str, str]:
    """Agent name -> the model it asks for: its ``agent.toml``'s ``model``, or, left empty (as
    ``new-agent`` writes it), the model of the first agent of the same surface that names one,
    so a freshly scaffolded agent is judged like the documented agent of its surface."""
    specs = [(agent_name(name), spec) for name, spec in _specs(extra_roots)
             if spec.get("surface") in SURFACES]
    by_surface: dict[str, str] = {}
    for _, spec in specs:
        if spec.get("model"):
            by_surface.setdefault(str(spec["surface"]), str(spec["model"]))
    models = {name: str(spec.get("model") or by_surface.get(str(spec["surface"]), ""))
              for name, spec in specs}
    return {name: model for name, model in models.items() if model}
