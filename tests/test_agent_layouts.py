"""Which generated layout a version needs is data (issue 17): ``[[compat.layouts]]`` in
agent.toml picks the layout, so moving a version range is an edit to that file."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from gateway_conformance.agents import codex
from gateway_conformance.agents.base import AgentSpec, LayoutRange
from gateway_conformance.resources import data_dir


def _codex_with(tmp_path: Path, ranges: str) -> AgentSpec:
    """The shipped codex agent.toml with its layout ranges replaced."""
    folder = tmp_path / "codex"
    shutil.copytree(data_dir() / "agents" / "codex", folder)
    text = (folder / "agent.toml").read_text()
    text = text[:text.index("[[compat.layouts]]")] + ranges
    (folder / "agent.toml").write_text(text)
    return AgentSpec.load("codex", tmp_path)


def test_the_newest_range_not_above_the_version_applies() -> None:
    spec = AgentSpec.load("codex")
    assert spec.layout_for("0.133.0") == "top-level-profile"
    assert spec.layout_for("0.134.0") == spec.layout_for("0.171.0") == "profile-files"
    assert spec.layout_for(None) == "profile-files", "unknown version: the newest layout"


def test_a_range_in_agent_toml_changes_what_is_rendered(tmp_path: Path) -> None:
    spec = _codex_with(tmp_path, '[[compat.layouts]]\nsince = "0.0.0"\nlayout = "profile-files"\n\n'
                                 '[[compat.layouts]]\nsince = "0.200.0"\nlayout = "top-level-profile"\n')
    assert codex.uses_profile_files("0.171.0", spec)
    assert not codex.uses_profile_files("0.200.1", spec), "the data moved 0.200+ back to the old layout"


def test_a_layout_the_renderer_does_not_know_is_refused() -> None:
    spec = dataclasses.replace(AgentSpec.load("codex"),
                               layouts=(LayoutRange("0.300.0", "profiles-in-yaml"),
                                        *AgentSpec.load("codex").layouts))
    assert codex.uses_profile_files("0.171.0", spec)
    with pytest.raises(ValueError, match="profiles-in-yaml"):
        codex.uses_profile_files("0.300.0", spec)
