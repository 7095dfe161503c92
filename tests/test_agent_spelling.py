"""One spelling of agent names (``claude-code``), the underscore one still accepted as input.

The shipped suite is collected in inner runs: ``-k claude_code`` must select exactly what
``-k claude-code`` does (the cases filed under the agent and the suite's own checks of its
folder), and no test ID may spell an agent with an underscore.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_conformance.agents import registry
from gateway_conformance.resources import data_dir
from gateway_conformance.roster import agent_surfaces
from gateway_conformance.traffic.scaffold import agent_folder, load_agent, new_agent

pytest_plugins = ["pytester"]


def _selected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_subprocess("--conformance", "--collect-only", "-q", "-p", "no:cacheprovider",
                                           *args, timeout=300)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    return sorted(line for line in result.outlines if "::" in line)


def test_k_selects_the_same_cases_in_either_spelling(pytester: pytest.Pytester) -> None:
    dashed = _selected(pytester, "-k", "claude-code or gemini-cli")
    assert dashed == _selected(pytester, "-k", "claude_code or gemini_cli")
    for agent in ("claude-code", "gemini-cli"):
        assert any(f"[{agent}/plain]" in test for test in dashed), "the agent's cassettes are selected"
        assert any(f"[{agent}]" in test for test in dashed), "the checks parametrized by agent are selected"


def test_no_collected_id_spells_an_agent_with_an_underscore(pytester: pytest.Pytester) -> None:
    tests = _selected(pytester)
    underscored = [a.replace("-", "_") for a in agent_surfaces() if "-" in a]
    assert underscored, "the roster has dashed names to check"
    old = [test for test in tests if any(name in test.partition("[")[2] for name in underscored)]
    assert not old, old[:5]


def test_agent_folders_and_names_are_dashed() -> None:
    folders = sorted(p.parent.name for p in (data_dir() / "agents").glob("*/agent.toml"))
    assert folders == sorted(agent_surfaces()) and not [f for f in folders if "_" in f], folders
    assert registry.names() == [a.name for a in registry.all_agents()]  # the registry's keys are the names
    assert registry.get("claude_code").name == registry.get("Claude-Code").name == "claude-code"


def test_an_underscored_folder_made_before_is_still_found_and_named_with_dashes(tmp_path: Path) -> None:
    old = tmp_path / "acme_coder"
    old.mkdir()
    (old / "agent.toml").write_text('name = "acme_coder"\nsurface = "cursor"\n', encoding="utf-8")
    for spelling in ("acme-coder", "acme_coder"):
        assert agent_folder(tmp_path, spelling) == old
    assert load_agent(old).name == "acme-coder"  # test IDs and cassettes say acme-coder
    assert agent_folder(tmp_path, "other_agent") == tmp_path / "other-agent"  # where new-agent puts it
    assert new_agent("new_agent", "cursor", tmp_path).path == tmp_path / "new-agent"
