"""The pytest side of the results document: one result per check ID and agent.

``plugin.py`` calls :func:`configure` from ``pytest_configure``; the collector is registered
only when ``--conformance-report`` or ``--conformance-html`` asks for output, so a plain run
pays nothing.

Only tests bound to the check catalogue are reported (``@pytest.mark.gwc_check("<id>")``, see
:mod:`gateway_conformance.checks.binding`, which also says which agents each case is filed
under); self-tests and unbound tests never appear. A case filed under several agents (a
surface check, whose surface several agents speak) gives one result per agent. A module
that fails to import is reported in ``run.collection_errors``, never as a check.
Tests report run-time facts with pytest's own ``record_property``: ``agent_version``,
``config`` (documented / generated) and ``implementation.<field>`` are read as such, every
other pair lands in the evidence.
"""

from __future__ import annotations

import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway_conformance import __version__
from gateway_conformance.checks import catalogue_of, claimed_profiles, identity
from gateway_conformance.checks.binding import Identity
from gateway_conformance.checks.verdicts import profile_verdicts
from gateway_conformance.report.results import (
    MAX_CAPTURED,
    MAX_LONGREPR,
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

PLUGIN_NAME = "gateway-conformance-results"
_IMPLEMENTATION_PREFIX = "implementation."
_MAX_REASON = 300


def configure(config: pytest.Config) -> ResultsCollector | None:
    """Register the collector when an output option is given."""
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
        self.collection_errors: list[dict[str, str]] = []
        self._pending: dict[str, _Pending] = {}
        self._implementation: dict[str, str] = {}
        self._started = time.time()

    def set_implementation(self, fields: dict[str, str | None]) -> None:
        self._implementation.update({k: self.redact(str(v)) for k, v in fields.items() if v is not None})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            found = identity(item)
            if found is not None:
                self._identities[item.nodeid] = found

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = self.redact(report.longreprtext)
            self.collection_errors.append({"nodeid": report.nodeid, "reason": _error_line(text) or "",
                                           "longrepr": clip(text, MAX_LONGREPR) or ""})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self._identities:
            return  # a self-test or a test bound to no check: not part of any report
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
        found = self._identities[report.nodeid]
        facts: dict[str, str] = {}
        agent_version: str | None = None
        config = found.config
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
        evidence = Evidence(
            summary=self.redact(pending.summary) if pending.summary else None,
            longrepr=clip(self.redact(longrepr), MAX_LONGREPR) if longrepr else None,
            facts=facts,
            captured={title: clip(self.redact(text), MAX_CAPTURED, tail=True) or ""
                      for title, text in pending.captured.items()},
        )
        for agent in found.agents:
            self.results.append(CheckResult(
                nodeid=report.nodeid,
                agent=agent,
                check=found.check.id,
                outcome=outcome,
                variant=found.variant,
                reason=self.redact(pending.reason) if pending.reason else None,
                duration_s=round(pending.duration, 6),
                agent_version=agent_version,
                config=config,
                identity=found.how,
                evidence=evidence,
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
                "collection_errors": list(self.collection_errors),
            },
            generator={"name": "gateway-conformance", "version": __version__},
            profiles=[v.to_dict() for v in profile_verdicts(self.results, claimed_profiles(self.config),
                                                            catalogue_of(self.config))],
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
