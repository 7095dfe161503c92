"""Fail closed: a conformance run that cannot measure the target stops, or exits non-zero.

Two guards (docs/platform-teams.md, "Runs that cannot measure"):

- :func:`check` runs before collection, from ``pytest_configure``, for ``--conformance`` runs.
  It stops the run with one sentence naming the fix (pytest's usage error: ``ERROR: ...``,
  exit 4) when an external target's token variable is unset, the gateway or the OTLP
  endpoint does not answer HTTP at all, or an output that was asked for needs an extra that
  is not installed. It also reads the gateway's version when the profile says where.
- :class:`NothingMeasured` ends a run in which no check of the suite was measured (every
  selected one skipped: not claimed, gwc_mock_only, no OTLP URL, ...) with exit status 5 and a
  line saying so, where pytest would exit 0: such a run proves nothing about the gateway.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from gateway_conformance.remote import ADVICE, Timeouts, classify
from gateway_conformance.resources import suite_dir
from gateway_conformance.secret import safe_url
from gateway_conformance.target import Target, set_target, target_of

NOTHING_MEASURED = pytest.ExitCode.NO_TESTS_COLLECTED  # 5: "no tests ran", which is what happened
# output option -> (modules it imports, the extra that installs them)
# (--gateway-image's testcontainers is checked where the image starts, in target.py.)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "conformance_html": (("plotly",), "report"),
}
SPARK_EXTRA: tuple[tuple[str, ...], str] = (("pyspark", "delta"), "spark")
PROBE_TIMEOUTS = Timeouts(connect=10.0, read=20.0, total=30.0)


def check(config: pytest.Config) -> None:
    """Everything that can be known before the first check runs; raises ``pytest.UsageError``."""
    _extras(config)
    target = target_of(config)
    if not target.external:
        return
    _token(target.token_env, "the gateway's token", target)
    if target.workspace_url:
        _token(target.otlp_token_env, "the OTLP endpoint's token", target)
    answer = _reachable(target.gateway_url or "", "the gateway")
    if target.workspace_url:
        _reachable(target.workspace_url, "the OTLP endpoint")
    if target.version_from is not None:
        set_target(config, _read_version(target, answer))


def _extras(config: pytest.Config) -> None:
    wanted = [(option, EXTRAS[option]) for option in EXTRAS if config.getoption(option, None)]
    if config.getoption("delta_engine", None) == "spark":
        wanted.append(("delta_engine=spark", SPARK_EXTRA))
    for option, (modules, extra) in wanted:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            flag = "--" + option.replace("_", "-")
            raise pytest.UsageError(f"{flag} needs {', '.join(missing)}, which is not installed: "
                                    f"pip install 'gateway-conformance[{extra}]'")


def _token(name: str, what: str, target: Target) -> None:
    if not os.environ.get(name):
        where = f"token_env in {target.source}" if target.source else "--token-env"
        raise pytest.UsageError(f"${name} is not set: export {what} in it ({where} names the variable)")


def _reachable(url: str, what: str) -> httpx.Response:
    """Any HTTP answer (even a 404 at the root) proves something listens."""
    try:
        return httpx.get(url, timeout=PROBE_TIMEOUTS.httpx())
    except httpx.HTTPError as exc:
        kind, detail = classify(exc)
        advice = ADVICE[kind]
        raise pytest.UsageError(f"{what} at {safe_url(url)} is unreachable ({detail})"
                                + (f": {advice}" if advice else "")) from None


def _read_version(target: Target, root_answer: httpx.Response) -> Target:
    """The version the gateway reports at ``version_from``; the profile's ``version`` stays the
    fallback (with the reason in the label) when it cannot be read."""
    probe = target.version_from
    assert probe is not None
    try:
        response = httpx.get((target.gateway_url or "").rstrip("/") + probe.path,
                             headers=_auth_headers(target), timeout=PROBE_TIMEOUTS.httpx())
        value = (response.headers.get(probe.header) if probe.header
                 else _dotted(response.json(), probe.json or ""))
    except (httpx.HTTPError, ValueError):
        value = None
    if not value:
        return target
    return dataclasses.replace(target, version=str(value))


def _auth_headers(target: Target) -> dict[str, str]:
    token = os.environ.get(target.token_env, "")
    return {"authorization": f"Bearer {token}"} if token else {}


def _dotted(data: Any, key: str) -> Any:
    for part in key.split("."):
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


class NothingMeasured:
    """Counts the suite's checks that ran (passed, failed, expected to fail); none: exit 5."""

    def __init__(self) -> None:
        self.selected = 0
        self.measured: set[str] = set()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        suite = suite_dir()
        self.selected = sum(1 for item in items if suite in item.path.parents)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ran = (report.when == "call" and not report.skipped) or (report.when == "setup" and report.failed)
        if ran or hasattr(report, "wasxfail"):
            self.measured.add(report.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.selected and not self.measured and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = NOTHING_MEASURED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.selected and not self.measured:
            terminalreporter.write_line(
                f"gateway-conformance: none of the {self.selected} selected checks was measured (all "
                f"skipped; reasons above): nothing is known about the target, exit {int(NOTHING_MEASURED)}",
                red=True)


def configure(config: pytest.Config) -> None:
    """From ``pytest_configure`` of a ``--conformance`` run."""
    if config.getoption("help", False) or config.getoption("collectonly", False):
        return
    check(config)
    config.pluginmanager.register(NothingMeasured(), "gateway-conformance-nothing-measured")
