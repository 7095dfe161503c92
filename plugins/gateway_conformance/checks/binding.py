"""Tests bind to check IDs: the ``check`` marker, its validation at collection, ``check_id(item)``.

A conformance test says which requirement it enforces with ``@pytest.mark.gwc_check("<id>")``;
the ID is never derived from the function's name, so renaming a test changes nothing a
report or ``diff`` sees. At collection (before ``-k``/``-m`` deselect anything) every test
of the shipped suite, and of any module where one test binds to an ID, must bind to an ID of
the catalogue or be marked ``gwc_self_check`` (a test of the suite itself, never reported); two
test functions may not share an ID (parametrized
cases of one function are variants of it). Any problem stops the run with one line per
problem naming the test and the fix.

The same marker, on a parameter (``pytest.param(..., marks=pytest.mark.gwc_check(agent=...))``),
says which agent or surface that case is for, and ``config=`` which agent configuration
(documented / generated) it ran. Which agents a case is filed under, first rule that applies:

1. the marker's ``agent=``;
2. the marker's ``surface=`` or a parameter named ``surface``: the check's agents speaking it;
3. a parameter named ``agent`` naming an agent (a string, or an object with ``.name``);
4. an agent's name as a dash-separated segment of the parametrize id (``[claude_code]``);
5. the check's own agents, when the check is about one surface (a surface no agent speaks,
   like ``otlp``, is its own column).

Each case also gets its agents and its check ID as keywords, so ``-k claude-code`` (or
``-k claude_code``) selects exactly the cases filed under Claude Code.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway_conformance.checks.agents import agent_name, agent_surfaces
from gateway_conformance.checks.registry import SURFACES, Catalogue, Check, load
from gateway_conformance.resources import suite_dir

MARKER = "gwc_check"
# A test of the suite itself (plugin.py registers the marker and skips it against external targets).
SELF_TEST = "gwc_self_check"
MARKERS = {
    MARKER: "gwc_check(id=None, *, agent=None, surface=None, config=None): the catalogue ID of the "
            "requirement "
            "this test enforces (gateway_conformance/checks/*.toml); on a parameter, the agent or surface "
            "that case is for and the agent configuration (documented | generated) it ran",
}
PLUGIN_NAME = "gateway-conformance-checks"
_CATALOGUE = pytest.StashKey["Catalogue"]()
_IDENTITY = pytest.StashKey["Identity"]()


@dataclass(frozen=True)
class Identity:
    """What a collected case is in the catalogue's terms."""

    check: Check
    agents: tuple[str, ...]
    variant: str | None
    config: str | None
    how: str  # which rule filed it: marker, surface, parameter, id, check


def _fields(item: pytest.Item) -> dict[str, Any]:
    """The ``check`` markers' fields, the closest marker first (a parameter's before the function's)."""
    fields: dict[str, Any] = {}
    for mark in item.iter_markers(MARKER):
        if mark.args and "id" not in fields:
            fields["id"] = mark.args[0]
        for key in ("id", "agent", "surface", "config"):
            if key in mark.kwargs and key not in fields:
                fields[key] = mark.kwargs[key]
    return fields


def check_id(item: pytest.Item) -> str | None:
    """The catalogue ID a collected test binds to (``@pytest.mark.gwc_check("<id>")``), or None."""
    value = _fields(item).get("id")
    return str(value) if value else None


def identity(item: pytest.Item) -> Identity | None:
    """The check, agents, variant and config of a collected case (set at collection)."""
    return item.stash.get(_IDENTITY, None)


def catalogue_of(config: pytest.Config) -> Catalogue:
    """The catalogue for this run: the shipped checks with the shipped agents and ``--agents-dir``'s."""
    if _CATALOGUE not in config.stash:
        roots = [Path(p) for p in (config.getoption("agents_dir", None) or [])]
        config.stash[_CATALOGUE] = load(agents=agent_surfaces(roots))
    return config.stash[_CATALOGUE]


def claimed_profiles(config: pytest.Config) -> set[str]:
    """The profiles the target claims: the profile's ``claims.profiles`` when it names them,
    else every profile whose agent (if it has one) the target claims."""
    from gateway_conformance.target import target_of  # target.py reads the agents from checks/agents.py

    claims = target_of(config).claims
    if claims.profiles is not None:
        return set(claims.profiles)
    return {p.name for p in catalogue_of(config).profiles if p.agent is None or claims.claims_agent(p.agent)}


def _kebab(text: str) -> str:
    return text.strip().lower().replace("_", "-").replace(" ", "-")


def _without(callspec_id: str, spelling: str) -> str | None:
    """The parametrize id without one parameter's segment (None when nothing else is left).

    Segments are separated by ``-`` or ``/`` (``_`` counts as ``-``) and compared without case,
    so ``claude_code/plain`` without ``claude-code`` is ``plain``.
    """
    parts = re.split(r"([-/])", callspec_id.replace("_", "-"))
    words = re.split(r"([-/])", _kebab(spelling))
    for start in range(0, len(parts) - len(words) + 1, 2):
        if [p.lower() for p in parts[start:start + len(words)]] == words:
            rest = (parts[:start] + parts[start + len(words) + 1:]) if start == 0 else \
                (parts[:start - 1] + parts[start + len(words):])
            return "".join(rest) or None
    return callspec_id


def _spellings(agents: tuple[str, ...] | list[str]) -> set[str]:
    """Both spellings of each agent, so ``-k claude_code`` selects what ``-k claude-code`` does."""
    return {*agents, *(a.replace("-", "_") for a in agents)}


def _named_agents(item: pytest.Item, surface_of: Mapping[str, str]) -> set[str]:
    """Both spellings of the agents a case's parametrize id names (``[claude-code/plain]``)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return set()
    return _spellings([a for a in surface_of if _without(callspec.id, a) != callspec.id])


class _Unfiled(Exception):
    """A case whose agents cannot be told; the message is the fix."""


def _agents_for(item: pytest.Item, check: Check, fields: dict[str, Any],
                surface_of: Mapping[str, str]) -> tuple[tuple[str, ...], str | None, str]:
    """(agents, variant, rule) of one case; ``surface_of`` maps every known agent to its surface."""
    known = sorted(surface_of, key=len, reverse=True)  # longest first: `gemini-cli` before `gemini`
    callspec = getattr(item, "callspec", None)
    variant: str | None = callspec.id if callspec is not None else None
    params = callspec.params if callspec is not None else {}
    if fields.get("agent"):
        agent = agent_name(str(fields["agent"]))
        return (agent,), _without(variant, agent) if variant else None, "marker"
    param_surface = params.get("surface")
    surface = fields.get("surface") or (param_surface if isinstance(param_surface, str) else None)
    if surface:
        if surface not in check.surfaces:
            raise _Unfiled(f"runs on surface {surface!r}, but {check.id} is about "
                           f"{', '.join(check.surfaces)}")
        from_surface = tuple(a for a in check.agents if surface_of.get(a) == surface) or (surface,)
        how = "marker" if fields.get("surface") else "surface"
        return from_surface, _without(variant, str(params.get("surface", ""))) if variant else None, how
    value = params.get("agent")
    name = getattr(value, "name", value)
    if isinstance(name, str) and agent_name(name) in known:
        agent = agent_name(name)
        spellings = [s for s in (str(value), name, agent) if s]
        rest = next((v for v in (_without(variant or "", s) for s in spellings) if v != variant), variant)
        return (agent,), rest, "parameter"
    if variant:
        for agent in known:
            rest = _without(variant, agent)
            if rest != variant:
                return (agent,), rest, "id"
    if len(check.surfaces) == 1:
        return check.agents or check.surfaces, variant, "check"
    raise _Unfiled(f"{check.id} is about {', '.join(check.surfaces)}: parametrize by `surface` or `agent`, "
                   f"or mark each case with pytest.mark.gwc_check(agent=...)")


# Where a check can run, as the markers the plugin's skip logic reads (plugin.py, upstream fixtures).
_RUNS_MARKER = {"embedded": "gwc_mock_only", "upstream": "gwc_upstream"}


def _reconcile_runs(item: pytest.Item, check: Check) -> str | None:
    """Give the case the marker its check's ``runs`` calls for; a contradicting marker is a problem."""
    for runs, marker in _RUNS_MARKER.items():
        if item.get_closest_marker(marker) is not None and check.runs != runs:
            return f'marked {marker}, but {check.id} says runs = "{check.runs}": change one of them'
    wanted = _RUNS_MARKER.get(check.runs)
    if wanted and item.get_closest_marker(wanted) is None:
        item.add_marker(getattr(pytest.mark, wanted))
    return None


def _function_key(item: pytest.Item) -> str:
    """What one test function is, whatever its parameters: ``path::Class::name``."""
    name = getattr(item, "originalname", None) or item.name
    return "::".join([*item.nodeid.split("::")[:-1], name])


def _in(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class Binding:
    """Validates the binding of every collected test and files each case (see the module docstring)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.identities: dict[str, Identity] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        suite = suite_dir()
        bound = [(item, _fields(item)) for item in items]
        if not any(fields.get("id") or _in(item.path, suite) for item, fields in bound):
            return  # nothing here binds to the catalogue: an ordinary test run
        cat = catalogue_of(self.config)
        roots = [Path(p) for p in (self.config.getoption("agents_dir", None) or [])]
        surface_of = agent_surfaces(roots)
        problems: list[str] = []
        functions: dict[str, set[str]] = defaultdict(set)
        conformance_modules = {item.path for item, fields in bound if fields.get("id")}
        for item, fields in bound:
            self_test = item.get_closest_marker(SELF_TEST) is not None
            cid = fields.get("id")
            item.extra_keyword_matches.update(_named_agents(item, surface_of))  # self-tests too
            if self_test:
                if cid:
                    problems.append(f"{item.nodeid}: a gwc_self_check is not a check; "
                                    f"drop its check ID {cid!r}")
                continue
            if not cid:
                if _in(item.path, suite) or item.path in conformance_modules:
                    problems.append(f"{item.nodeid}: binds to no check: add @pytest.mark.gwc_check(\"<id>\") "
                                    f"with an ID from checks/*.toml, or mark it gwc_self_check")
                continue
            check = cat.get(str(cid))
            if check is None:
                problems.append(f"{item.nodeid}: {cid!r} is not in the check catalogue (gateway_conformance/"
                                f"checks/*.toml); `gateway-conformance checks` lists the IDs")
                continue
            functions[check.id].add(_function_key(item))
            try:
                agents, variant, how = _agents_for(item, check, fields, surface_of)
            except _Unfiled as exc:
                problems.append(f"{item.nodeid}: {exc}")
                continue
            stray = [a for a in agents if a not in check.agents and (check.agents or a not in SURFACES)]
            if stray:
                problems.append(f"{item.nodeid}: filed under {', '.join(stray)}, but {check.id} is for "
                                f"{', '.join(check.agents) or 'no agent'}")
                continue
            problem = _reconcile_runs(item, check)
            if problem:
                problems.append(f"{item.nodeid}: {problem}")
            item.stash[_IDENTITY] = self.identities[item.nodeid] = Identity(
                check, agents, variant, fields.get("config"), how)
            spellings = _spellings(agents)
            item.extra_keyword_matches.update({check.id, *spellings})
            for name in sorted(spellings):  # `-m claude-code` / `-m claude_code`: registered in configure
                item.add_marker(getattr(pytest.mark, name))
        for check_id_, keys in sorted(functions.items()):
            if len(keys) > 1:
                problems.append(f"{check_id_} is bound by {len(keys)} tests ({', '.join(sorted(keys))}): "
                                f"one requirement, one test; give the others their own IDs")
        if problems:
            raise pytest.UsageError("the conformance checks are not bound to the catalogue:\n  "
                                    + "\n  ".join(problems))


    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Per profile and agent: verdicts, counts and the skip reasons grouped (checks/summary.py)."""
        if not self.identities:
            return
        from gateway_conformance.checks.summary import lines  # it reads this module's Identity

        terminalreporter.section("gateway-conformance: profiles and agents")
        for line in lines(self.identities, terminalreporter.stats, catalogue_of(self.config),
                          claimed_profiles(self.config)):
            terminalreporter.write_line(line)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None],
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A failing check's report names the requirement it enforces and where it is written."""
        report = yield
        found = identity(item)
        if found is not None and report.failed:
            check = found.check
            report.sections.append(("gateway-conformance requirement",
                                    f"{check.id} ({check.level}): {check.requirement}\n"
                                    f"source: {check.url} \u201c{check.quote}\u201d"))
        return report


def configure(config: pytest.Config) -> None:
    """From ``pytest_configure``: register the ``check`` marker and the binding validator."""
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    roots = [Path(p) for p in (config.getoption("agents_dir", None) or [])]
    for agent, surface in sorted({**agent_surfaces(roots), "otlp": "otlp"}.items()):
        for name in dict.fromkeys((agent, agent.replace("-", "_"))):
            config.addinivalue_line("markers", f"{name}: a check filed under {agent} ({surface} surface)")
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(Binding(config), PLUGIN_NAME)
