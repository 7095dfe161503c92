"""The launcher, with a stand-in CLI (a node script): environment, argv, time bound, capture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway_conformance.agents import launch
from gateway_conformance.agents.base import AgentSpec, ConfigFile, RenderedConfig, Traits

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

# Prints its argv, cwd and environment as JSON; `sleep` makes it and a child that holds its
# stdout/stderr pipes outlive any bound.
STAND_IN = """
const { spawn } = require("child_process");
if (process.argv.includes("sleep")) {
  spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "inherit" });
  setTimeout(() => {}, 60000);
} else {
  console.log(JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), env: process.env }));
  console.error("to stderr");
}
"""


@pytest.fixture
def installation(tmp_path: Path) -> launch.Installation:
    folder = tmp_path / "node_modules" / "stand-in-1.0.0"
    (folder / "bin").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps(
        {"name": "@example/stand-in", "version": "1.0.0", "bin": {"stand-in": "bin/cli.js"}}))
    (folder / "bin" / "cli.js").write_text(STAND_IN)
    spec = spec_for()
    (found,) = launch.installations(spec, tmp_path / "node_modules")
    return found


def spec_for(prompt_flag: str | None = "--prompt") -> AgentSpec:
    return AgentSpec(name="stand_in", display_name="Stand-in", surface="openai",
                     npm_package="@example/stand-in", bin="stand-in", launch_args=("exec",),
                     tool_args=("--tools-ok",), prompt_flag=prompt_flag, launch_env={"QUIET": "1"},
                     traits=Traits("/x", "", None, {}), tool=None, documented_max=None)


def rendered() -> RenderedConfig:
    return RenderedConfig(agent="stand_in", layout="generated", agent_version="1.0.0",
                          files=(ConfigFile(".stand-in/config", "x"),), env={"PLAIN": "yes"},
                          token_env={"AGENT_TOKEN": "SOURCE_TOKEN"}, args=("--profile", "default"))


def test_run_builds_argv_and_an_environment_from_nothing(installation: launch.Installation, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "leak-me-not")
    monkeypatch.setenv("OPENAI_API_KEY", "leak-me-not")
    home, work = tmp_path / "home", tmp_path / "work"
    run = launch.run_agent(spec_for(), installation, rendered(), "hello there", home=home, workdir=work,
                           allow_tools=True, environ={"SOURCE_TOKEN": "gwc-launch-test"}, timeout=30)
    assert run.ok, run.describe()
    seen = json.loads(run.stdout)
    assert seen["argv"] == ["exec", "--profile", "default", "--tools-ok", "--prompt", "hello there"]
    assert Path(seen["cwd"]) == work
    env = seen["env"]
    assert env["HOME"] == str(home) and env["QUIET"] == "1" and env["PLAIN"] == "yes"
    assert env["AGENT_TOKEN"] == "gwc-launch-test"
    assert "leak-me-not" not in json.dumps(env)
    assert "SOURCE_TOKEN" not in env
    assert run.stderr.strip() == "to stderr"


def test_run_is_bounded_and_kills_the_whole_process_group(installation: launch.Installation,
                                                          tmp_path: Path) -> None:
    spec = spec_for(prompt_flag=None)
    run = launch.run_agent(spec, installation, rendered(), "sleep", home=tmp_path / "h",
                           workdir=tmp_path / "w", environ={"SOURCE_TOKEN": "t"}, timeout=1.5)
    assert run.timed_out and run.returncode is None and not run.ok
    # The grandchild holds the pipes for 60 s: the run ends well before only if it was killed too.
    assert run.seconds < 30

