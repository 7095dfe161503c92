"""Fixtures that launch the real agent CLIs against the gateway (path 3 of DESIGN.md).

``run_agent(name, prompt, ...)`` renders the agent's config for the target into a fresh
throwaway HOME, runs the installed CLI there in its own working folder, and hands back the
run with everything a test asserts on. The token reaches the renderer through an
environment variable set for the test only (never argv). Telemetry runs use a sink of
their own that accepts the gateway's token, because the documented configs send one PAT
to both the gateway and the workspace.

The compatibility matrix (agent x installed version x documented/generated) is collected
here and printed at the end of the run by :func:`print_compat_matrix` (plugin.py's hook).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway_conformance.agents import launch, registry
from gateway_conformance.agents.base import Agent, RenderedConfig, parse_version
from gateway_conformance.agents.launch import AgentRun, Installation
from gateway_conformance.agents.profile import TargetProfile
from gateway_conformance.otlp.sink import SinkHandle, start_sink
from gateway_conformance.secret import Secret, reveal

__all__ = [
    "AgentResult",
    "AgentRunner",
    "CompatCell",
    "gwc_agent_sink",
    "gwc_compat_matrix",
    "gwc_run_agent",
    "print_compat_matrix",
]

# The variable the runner puts the token in for the renderers (set per test, then removed).
AGENT_TOKEN_ENV = "GATEWAY_CONFORMANCE_AGENT_TOKEN"
TELEMETRY_CATALOG = "main"
TELEMETRY_SCHEMA = "otel"
TELEMETRY_PREFIX = "agent_runs"
_MATRIX_KEY = pytest.StashKey["list[CompatCell]"]()


@dataclass(frozen=True)
class AgentResult:
    """One finished agent run: the process, the config it ran with, where it ran."""

    run: AgentRun
    agent: Agent
    installation: Installation
    rendered: RenderedConfig
    profile: TargetProfile
    home: Path
    workdir: Path

    @property
    def ok(self) -> bool:
        return self.run.ok

    def describe(self) -> str:
        return (f"{self.agent.spec.display_name} {self.installation.version} "
                f"({self.rendered.layout} config): {self.run.describe()}")


@dataclass
class AgentRunner:
    """Launches agents against one target; ``workspace_url`` is looked up only for telemetry."""

    gateway_url: str
    token: Secret
    workspace_url: Callable[[], str]
    tmp_path_factory: pytest.TempPathFactory
    monkeypatch: pytest.MonkeyPatch
    node_modules: Path = field(default_factory=launch.default_node_modules)

    def installation(self, name: str, version: str | None = None) -> Installation:
        """The installed CLI (newest unless ``version``), or a skip saying how to install it."""
        spec = registry.get(name).spec
        found = (launch.find(spec, version, self.node_modules) if version
                 else launch.newest(spec, self.node_modules))
        if found is None:
            pytest.skip(f"{spec.npm_package}{'@' + version if version else ''} is not installed: "
                        f"{launch.install_hint(self.node_modules)}")
        return found

    def profile(self, *, telemetry: bool = False) -> TargetProfile:
        return TargetProfile(gateway_url=self.gateway_url,
                             workspace_url=self.workspace_url() if telemetry else None,
                             token_env=AGENT_TOKEN_ENV, catalog=TELEMETRY_CATALOG,
                             schema=TELEMETRY_SCHEMA, table_prefix=TELEMETRY_PREFIX, telemetry=telemetry)

    def __call__(self, name: str, prompt: str, *, version: str | None = None, as_documented: bool = False,
                 telemetry: bool = False, allow_tools: bool = False, token: Secret | str | None = None,
                 workdir: Path | None = None, timeout: float = launch.DEFAULT_TIMEOUT) -> AgentResult:
        """``workdir``: the agent's working folder when the test must know it beforehand (a
        tool call that names a path in it); by default a fresh folder beside the HOME."""
        agent = registry.get(name)
        installation = self.installation(name, version)
        self.monkeypatch.setenv(AGENT_TOKEN_ENV, reveal(token if token is not None else self.token))
        profile = self.profile(telemetry=telemetry)
        rendered = agent.render(profile, agent_version=installation.version, as_documented=as_documented)
        base = self.tmp_path_factory.mktemp(f"{name}-{installation.version}-{rendered.layout}")
        home, workdir = base / "home", workdir or base / "work"
        rendered.write(home)
        run = launch.run_agent(agent.spec, installation, rendered, prompt, home=home, workdir=workdir,
                               timeout=timeout, allow_tools=allow_tools, environ=os.environ)
        return AgentResult(run=run, agent=agent, installation=installation, rendered=rendered,
                           profile=profile, home=home, workdir=workdir)


@pytest.fixture(scope="session")
def gwc_agent_sink(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               gwc_gateway_token: Secret) -> Iterator[SinkHandle]:
    """An OTLP sink with its own Delta tables that accepts the gateway's token."""
    handle = start_sink(tmp_path_factory.mktemp("agent-delta"), TELEMETRY_PREFIX,
                        [gwc_gateway_token.reveal()],
                        engine=request.config.getoption("delta_engine"),
                        catalog=TELEMETRY_CATALOG, schema=TELEMETRY_SCHEMA)
    yield handle
    handle.stop()


@pytest.fixture
def gwc_run_agent(request: pytest.FixtureRequest, gwc_gateway_token: Secret, monkeypatch: pytest.MonkeyPatch,
              tmp_path_factory: pytest.TempPathFactory) -> AgentRunner:
    """``run_agent("codex", "prompt", version=None, as_documented=False, telemetry=False,
    allow_tools=False, token=None, workdir=None)`` -> :class:`AgentResult`."""
    external = request.config.getoption("gateway_url")
    gateway_url = external or request.getfixturevalue("gwc_gateway").url

    def workspace_url() -> str:
        external_workspace = request.config.getoption("workspace_url")
        return external_workspace or request.getfixturevalue("gwc_agent_sink").workspace_url

    return AgentRunner(gateway_url=gateway_url, token=gwc_gateway_token, workspace_url=workspace_url,
                       tmp_path_factory=tmp_path_factory, monkeypatch=monkeypatch)


@dataclass(frozen=True)
class CompatCell:
    """One cell of the compatibility matrix: expected (data) against what happened."""

    agent: str
    version: str
    layout: str
    expected_pass: bool
    passed: bool
    detail: str = ""


@pytest.fixture(scope="session")
def gwc_compat_matrix(request: pytest.FixtureRequest) -> list[CompatCell]:
    """Append a :class:`CompatCell` per matrix test; printed at the end of the run."""
    return request.config.stash.setdefault(_MATRIX_KEY, [])


def print_compat_matrix(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The matrix cells of this run, one line each, as a section of the terminal summary."""
    cells = config.stash.get(_MATRIX_KEY, [])
    if not cells:
        return
    terminalreporter.section("agent config compatibility (documented / generated)")
    for cell in sorted(cells, key=lambda c: (c.agent, parse_version(c.version), c.layout)):
        verdict = "works" if cell.passed else "fails"
        note = "as expected" if cell.passed == cell.expected_pass else \
            f"UNEXPECTED (expected it to {'work' if cell.expected_pass else 'fail'})"
        line = f"{cell.agent:12} {cell.version:10} {cell.layout:10} {verdict:4}  {note}"
        terminalreporter.write_line(line + (f"  {cell.detail}" if cell.detail else ""))
