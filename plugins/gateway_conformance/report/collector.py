"""The pytest side of the results document: file each test under an agent and a check.

``plugin.py`` calls :func:`configure` from ``pytest_configure``. It registers the
``conformance_check`` marker always, and the collector only when ``--conformance-report``
or ``--conformance-html`` asks for output, so a plain run pays nothing.

Which agent and check a test belongs to (first rule that applies; docs/report.md):

1. ``@pytest.mark.conformance_check(agent=..., check=..., config=...)``: any argument given;
2. agent: a parametrize argument named ``agent`` holding a known agent's name or an object
   with ``.name`` (an agent spec); other strings are ordinary parameters;
3. agent: a parametrize argument (or parametrized fixture) named ``surface``: the agent that
   speaks that surface (anthropic: claude-code, openai: codex, gemini: gemini-cli, cursor);
4. agent: a known agent's name as a segment of the parametrize id (``[claude-code-stream]``);
5. agent: a known agent's name leading the module name (``test_codex_responses.py``) or
   naming its folder (``conformance/gemini_cli/test_x.py``);
6. otherwise agent ``gateway``.

The check defaults to ``<module>/<function>`` without the ``test_`` prefixes and the agent
part, in kebab case; the variant is the parametrize id without the agent's segment.
Tests report run-time facts with pytest's own ``record_property``: ``agent_version``,
``config`` (documented / generated) and ``implementation.<field>`` are read as such, every
other pair lands in the evidence.
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway_conformance import __version__
from gateway_conformance.report.results import (
    DEFAULT_AGENT,
    KNOWN_AGENTS,
    MAX_CAPTURED,
    MAX_LONGREPR,
    SURFACE_AGENTS,
    CheckResult,
    Evidence,
    Implementation,
    Outcome,
    Redactor,
    Report,
    clip,
    write_report,
)
from gateway_conformance.secret import safe_url
from gateway_conformance.target import target_of

MARKER = "conformance_check"
MARKER_HELP = (f"{MARKER}(agent=None, check=None, config=None): file this test in the conformance "
               f"report under an agent and a check (config: documented or generated)")
PLUGIN_NAME = "gateway-conformance-results"
_IMPLEMENTATION_PREFIX = "implementation."
_MAX_REASON = 300


@dataclass(frozen=True)
class Identity:
    agent: str
    check: str
    variant: str | None
    config: str | None
    source: str


def configure(config: pytest.Config) -> ResultsCollector | None:
    """Register the marker, and the collector when an output option is given."""
    config.addinivalue_line("markers", MARKER_HELP)
    json_path = config.getoption("conformance_report", None)
    html_path = config.getoption("conformance_html", None)
    if not json_path and not html_path:
        return None
    collector = ResultsCollector(config, json_path, html_path)
    config.pluginmanager.register(collector, PLUGIN_NAME)
    return collector


def collector_of(config: pytest.Config) -> ResultsCollector | None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin if isinstance(plugin, ResultsCollector) else None


def record_implementation(config: pytest.Config, **fields: str | None) -> None:
    """Tell the report what the target says it is (``name``, ``version``, anything else).

    For checks that learn it at run time, e.g. from a ``server`` header; a no-op when no
    report is being written.
    """
    collector = collector_of(config)
    if collector is not None:
        collector.set_implementation(fields)


def register_secret(config: pytest.Config, value: str | None) -> None:
    """Make sure ``value`` (a token a fixture created) never appears in the report."""
    collector = collector_of(config)
    if collector is not None:
        collector.redact.add(value)


def _kebab(text: str) -> str:
    return text.strip().lower().replace("_", "-").replace(" ", "-")


def _strip_test(text: str) -> str:
    return text[len("test_"):] if text.startswith("test_") else text


def _agent_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return _kebab(name if isinstance(name, str) else str(value))


def _agent_in_id(callspec_id: str) -> tuple[str, str | None] | None:
    """A known agent as a dash-separated segment of the parametrize id, and the id without it."""
    padded = f"-{_kebab(callspec_id)}-"
    for agent in KNOWN_AGENTS:
        segment = f"-{agent}-"
        if segment in padded:
            rest = padded.replace(segment, "-", 1).strip("-")
            return agent, rest or None
    return None


def _agent_in_module(path: Path) -> tuple[str | None, str]:
    """(agent, rest of the module name): from ``test_<agent>_<rest>.py`` or an agent folder."""
    stem = _kebab(_strip_test(path.stem))
    for agent in KNOWN_AGENTS:
        if stem == agent or stem.startswith(agent + "-"):
            return agent, stem[len(agent):].strip("-")
    folder = _kebab(path.parent.name)
    return (folder if folder in KNOWN_AGENTS else None), stem


def _without_segment(callspec_id: str, agent_id: str) -> str | None:
    if callspec_id == agent_id:
        return None
    for form in (f"{agent_id}-", f"-{agent_id}"):
        if form in callspec_id:
            return callspec_id.replace(form, "", 1) or None
    return callspec_id


def _param_agent(callspec: Any, name: str, agent: str, how: str) -> tuple[str, str | None, str]:
    """(agent, variant, how), the variant being the id without this parameter's segment."""
    value = callspec.params[name]
    # The id may spell the value as str(value), as its .name, or as the agent's slug.
    spellings = (str(value), str(getattr(value, "name", "")), agent)
    variant = next((v for v in (_without_segment(callspec.id, s) for s in spellings if s)
                    if v != callspec.id), callspec.id)
    return agent, variant, how


def _agent_from_params(callspec: Any) -> tuple[str, str | None, str] | None:
    """(agent, variant, how) from an ``agent`` or ``surface`` parameter, or a known agent in the id."""
    if callspec is None:
        return None
    value = callspec.params.get("agent")
    if isinstance(getattr(value, "name", None), str) or _kebab(str(value)) in KNOWN_AGENTS:
        return _param_agent(callspec, "agent", _agent_name(value), "parameter")
    surface = callspec.params.get("surface")
    if isinstance(surface, str) and surface in SURFACE_AGENTS:
        return _param_agent(callspec, "surface", SURFACE_AGENTS[surface], "surface")
    found = _agent_in_id(callspec.id)
    return (found[0], found[1], "id") if found else None


def identify(item: pytest.Item) -> Identity:
    """Agent, check, variant and config of a test, by the rules in the module docstring.

    ``Identity.source`` says how the agent was found: marker, parameter, surface, id, module,
    default.
    """
    marker = item.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker else {}
    callspec = getattr(item, "callspec", None)
    variant: str | None = callspec.id if callspec is not None else None
    from_params = _agent_from_params(callspec)
    module_agent, module_rest = _agent_in_module(item.path)
    if kwargs.get("agent"):
        agent, source = str(kwargs["agent"]), "marker"
        if from_params is not None and _kebab(agent) == from_params[0]:
            variant = from_params[1]
    elif from_params is not None:
        agent, variant, source = from_params
    elif module_agent:
        agent, source = module_agent, "module"
    else:
        agent, source = DEFAULT_AGENT, "default"
    check = kwargs.get("check")
    if not check:
        function = _kebab(_strip_test(getattr(item, "originalname", None) or item.name))
        check = f"{module_rest}/{function}" if module_rest else function
    return Identity(agent=_kebab(agent), check=str(check), variant=variant,
                    config=kwargs.get("config"), source=source)


class _Pending:
    """One test's phases as they arrive; the teardown report completes it."""

    def __init__(self) -> None:
        self.outcome: Outcome | None = None
        self.reason: str | None = None
        self.summary: str | None = None
        self.longrepr: list[str] = []
        self.captured: dict[str, str] = {}
        self.duration = 0.0


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    return clip(line, _MAX_REASON)


def _error_line(text: str) -> str | None:
    """The exception line (``E   ...``) of a formatted traceback, else its first line."""
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return clip(errors[-1], _MAX_REASON) if errors else _first_line(text)


def _skip_reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        message = str(longrepr[2])
        return message.removeprefix("Skipped: ").strip() or None
    return _first_line(str(longrepr)) if longrepr else None


def _xfail_reason(report: pytest.TestReport) -> str | None:
    reason = getattr(report, "wasxfail", "") or ""
    return reason.removeprefix("reason: ").strip() or None


# A check's own failure (assert, pytest.fail) is its sentence; the exception's name adds nothing.
_CHECK_FAILED = re.compile(r"^\s*(AssertionError|Failed): ")


def _crash(report: pytest.TestReport, root: Path) -> tuple[str | None, str | None]:
    """(one-line message, "path:line: message") of a failure, the path relative to ``root``."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = _first_line(_CHECK_FAILED.sub("", crash.message, count=1))
        path = Path(crash.path)
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        return message, f"{shown}:{crash.lineno}: {message}"
    return _first_line(report.longreprtext), None


class ResultsCollector:
    """Collects outcomes during the run; writes the JSON and/or the HTML matrix at the end."""

    def __init__(self, config: pytest.Config, json_path: str | None, html_path: str | None) -> None:
        self.config = config
        self.json_path = Path(json_path) if json_path else None
        self.html_path = Path(html_path) if html_path else None
        self.redact = Redactor([os.environ.get(config.getoption("token_env", None) or "", "")])
        self.results: list[CheckResult] = []
        self.written: list[Path] = []
        self._identities: dict[str, Identity] = {}
        self._pending: dict[str, _Pending] = {}
        self._implementation: dict[str, str] = {}
        self._started = time.time()

    def set_implementation(self, fields: dict[str, str | None]) -> None:
        self._implementation.update({k: self.redact(str(v)) for k, v in fields.items() if v is not None})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self._identities[item.nodeid] = identify(item)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        agent, rest = _agent_in_module(Path(report.fspath))
        text = self.redact(report.longreprtext)
        self.results.append(CheckResult(
            nodeid=report.nodeid, agent=agent or DEFAULT_AGENT, check=f"collect/{rest or 'session'}",
            outcome="error", reason=_error_line(text), identity="module" if agent else "default",
            evidence=Evidence(summary=_first_line(text), longrepr=clip(text, MAX_LONGREPR))))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        pending = self._pending.setdefault(report.nodeid, _Pending())
        pending.duration += report.duration
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._phase_outcome(pending, report)
        elif report.when == "teardown" and report.failed and pending.outcome not in ("fail", "error"):
            pending.outcome = "error"
            pending.reason, pending.summary = _crash(report, self.config.rootpath)
            pending.longrepr.append(report.longreprtext)
        if report.when == "teardown":
            self._finish(report, self._pending.pop(report.nodeid))

    def _phase_outcome(self, pending: _Pending, report: pytest.TestReport) -> None:
        xfailed = hasattr(report, "wasxfail")
        if report.skipped:
            pending.outcome = "xfail" if xfailed else "skip"
            pending.reason = _xfail_reason(report) if xfailed else _skip_reason(report)
        elif report.passed:
            pending.outcome = "xpass" if xfailed else "pass"
            pending.reason = _xfail_reason(report) if xfailed else None
        else:
            pending.outcome = "error" if report.when == "setup" else "fail"
            pending.reason, pending.summary = _crash(report, self.config.rootpath)
            pending.longrepr.append(report.longreprtext)
            pending.captured = {title: content for title, content in report.sections if content}

    def _finish(self, report: pytest.TestReport, pending: _Pending) -> None:
        identity = self._identities.get(report.nodeid) or Identity(
            DEFAULT_AGENT, report.nodeid.rsplit("::", 1)[-1], None, None, "default")
        facts: dict[str, str] = {}
        agent_version: str | None = None
        config = identity.config
        for name, value in report.user_properties:
            text = self.redact(str(value))
            if name == "agent_version":
                agent_version = text
            elif name == "config":
                config = text
            elif name.startswith(_IMPLEMENTATION_PREFIX):
                self._implementation[name[len(_IMPLEMENTATION_PREFIX):]] = text
            else:
                facts[name] = text
        outcome = pending.outcome or "pass"
        longrepr = "\n".join(part for part in pending.longrepr if part) or None
        self.results.append(CheckResult(
            nodeid=report.nodeid,
            agent=identity.agent,
            check=identity.check,
            outcome=outcome,
            variant=identity.variant,
            reason=self.redact(pending.reason) if pending.reason else None,
            duration_s=round(pending.duration, 6),
            agent_version=agent_version,
            config=config,
            identity=identity.source,
            evidence=Evidence(
                summary=self.redact(pending.summary) if pending.summary else None,
                longrepr=clip(self.redact(longrepr), MAX_LONGREPR) if longrepr else None,
                facts=facts,
                captured={title: clip(self.redact(text), MAX_CAPTURED, tail=True) or ""
                          for title, text in pending.captured.items()},
            ),
        ))

    def implementation(self) -> Implementation:
        gateway_url = self.config.getoption("gateway_url", None)
        profile = target_of(self.config)
        fields = dict(self._implementation)
        embedded = not gateway_url
        return Implementation(
            target="embedded" if embedded else "external",
            gateway_url=safe_url(gateway_url or fields.pop("gateway_url", None)),
            workspace_url=safe_url(self.config.getoption("workspace_url", None)
                                   or fields.pop("workspace_url", None)),
            # the profile's labels (docs/platform-teams.md) win over what a check read from the wire
            name=(profile.name or fields.pop("name", None)
                  or ("gateway-conformance embedded mock" if embedded else None)),
            version=(profile.version or fields.pop("version", None) or (__version__ if embedded else None)),
            extra=fields,
        )

    def build_report(self, exit_status: int | None = None) -> Report:
        finished = time.time()
        return Report(
            implementation=self.implementation(),
            results=list(self.results),
            created=_iso(finished),
            run={
                "started": _iso(self._started),
                "finished": _iso(finished),
                "duration_s": round(finished - self._started, 3),
                "exit_status": exit_status,
                "pytest": pytest.__version__,
                "python": platform.python_version(),
            },
            generator={"name": "gateway-conformance", "version": __version__},
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        report = self.build_report(int(exitstatus))
        if self.json_path is not None:
            self.written.append(write_report(report, self.json_path))
        if self.html_path is not None:
            # Imported here: the page pulls in plotly and deltalake, which a plain run never needs.
            from gateway_conformance.report.html import write_page

            self.written.append(write_page(self.html_path, results=[report]))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for path in self.written:
            terminalreporter.write_line(f"gateway-conformance: wrote {path}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
