"""Agents as the checks see them: names (one dashed spelling) and the surface each speaks.

``fixtures/agents/*/agent.toml`` is the only list of agents. Folder and ``name`` may be
spelled with underscores (``claude_code``); the judging side always says ``claude-code``,
and accepts either spelling as input.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gateway_conformance.resources import data_dir
from gateway_conformance.traffic.scaffold import agent_folders


def agent_name(raw: str) -> str:
    """``claude_code``, ``Claude-Code`` -> ``claude-code``: the one spelling of an agent's name."""
    return raw.strip().lower().replace("_", "-")


def agent_surfaces(extra_roots: Iterable[Path] = ()) -> dict[str, str]:
    """Agent name -> surface, for the shipped agent folders and those under ``extra_roots``."""
    return {agent_name(folder.name): folder.surface
            for folder in agent_folders([data_dir() / "agents", *extra_roots])}


def agent_models(extra_roots: Iterable[Path] = ()) -> dict[str, str]:
    """Agent name -> the model its ``agent.toml`` names (``model``), for the agents that name one."""
    return {agent_name(folder.name): str(folder.spec["model"])
            for folder in agent_folders([data_dir() / "agents", *extra_roots]) if folder.spec.get("model")}
