"""The pytest plugin: the ``--conformance`` switch, the target options, markers, fixtures.

Hooks only: every hook the plugin implements is in this module. The fixtures live in
:mod:`gateway_conformance.pytest_fixtures`, one module per server they stand up, and are
registered by name in ``pytest_plugins`` below (no star imports), so a fixture module never
carries a hook and ``pytest --fixtures`` names the module each fixture comes from.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from gateway_conformance import cost, expectations, preflight, sdk_http, secret
from gateway_conformance import target as target_profile
from gateway_conformance.checks import binding as check_binding
from gateway_conformance.checks import catalogue_of, check_id
from gateway_conformance.pytest_fixtures import gateway as gateway_fixtures
from gateway_conformance.pytest_fixtures.agents import print_compat_matrix
from gateway_conformance.pytest_fixtures.upstream import skip_without_upstream
from gateway_conformance.pytest_fixtures.usage import add_usage_options
from gateway_conformance.remote import RemoteError
from gateway_conformance.report import collector as report_collector
from gateway_conformance.report.scrub import scrub_report
from gateway_conformance.resources import suite_dir
from gateway_conformance.target import DEFAULT_TOKEN_ENV

# The fixture modules, registered as plugins of their own when pytest registers this one.
pytest_plugins = [
    "gateway_conformance.pytest_fixtures.agents",
    "gateway_conformance.pytest_fixtures.gateway",
    "gateway_conformance.pytest_fixtures.sink",
    "gateway_conformance.pytest_fixtures.spark",
    "gateway_conformance.pytest_fixtures.target",
    "gateway_conformance.pytest_fixtures.upstream",
    "gateway_conformance.pytest_fixtures.usage",
]

# Registered here, not in an ini file, so an installed suite run from any folder knows them.
MARKERS = {
    "gwc_mock_only": "needs the embedded mock's internals (ledger, scripts, faults); "
                 "skipped against an external target",
    "gwc_upstream": "steers the gateway's provider by correlation marker; runs on the embedded mock and, "
                "with [upstream] in the target profile, through the gateway under test",
    "gwc_self_check": "judges the suite's own data (cassettes, shape tables), not the target; "
                  "skipped against an external target, so it is never credited to the gateway",
    "gwc_spark": "needs the JVM Spark engine (pyspark + delta-spark)",
    "gwc_agents": "launches a real agent CLI from ./node_modules",
    "gwc_browser": "drives headless Chromium",
    gateway_fixtures.LEFTOVERS_MARKER: "the test leaves scripted turns or faults unused on purpose "
                                       "(else each one left fails the test, listed)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "gateway-conformance")
    group.addoption("--conformance", action="store_true", default=False,
                    help="collect and run the gateway conformance suite shipped with the package")
    group.addoption("--agents-dir", action="append", default=[], metavar="DIR",
                    help="also replay the agent folders (agent.toml + cassettes/) under DIR; repeatable")
    group.addoption("--target", default=None, metavar="FILE.toml",
                    help="the target profile: gateway URL, per-surface paths, auth and headers, token "
                         "variables, models, claims, expected failures (docs/platform-teams.md); "
                         "the options below override it")
    group.addoption("--gateway-url", default=None, metavar="URL",
                    help="run against this gateway instead of the embedded mock")
    group.addoption("--workspace-url", default=None, metavar="URL",
                    help="OTLP endpoint root (…/api/2.0/otel/v1 lives under it) of the external target")
    group.addoption("--token-env", default=None, metavar="NAME",
                    help=f"environment variable holding the bearer token for an external target "
                         f"(default {DEFAULT_TOKEN_ENV}); tokens are never taken from argv")
    group.addoption("--model", action="append", default=[], metavar="AGENT=MODEL",
                    help="the model to ask for on AGENT's surface (claude-code, codex, cursor, gemini-cli); "
                         "default: the documented databricks-* endpoint; repeatable")
    group.addoption("--gateway-image", default=None, metavar="IMAGE",
                    help="start this gateway image with testcontainers and run against it "
                         "(skips everything, with the reason, when no Docker engine is reachable)")
    group.addoption("--gateway-image-port", default=None, type=int, metavar="PORT",
                    help="the port the --gateway-image serves on inside the container (default 8080)")
    group.addoption("--replay-full", action="store_true", default=False,
                    help="replay cassettes to an external target without [upstream] as recorded, "
                         "not trimmed for a real model (costs ~26,000 tokens per Claude Code request)")
    group.addoption("--remote-timeout", default=None, type=float, metavar="SECONDS",
                    help="how long a target check waits for the next bytes from the target (default 60)")
    group.addoption("--table-prefix", default=None, metavar="PREFIX",
                    help="Unity Catalog table prefix: <prefix>_otel_metrics, _otel_logs, _otel_spans")
    group.addoption("--uc-catalog", default=None, metavar="CATALOG",
                    help="Unity Catalog catalog of the telemetry tables (default main)")
    group.addoption("--uc-schema", default=None, metavar="SCHEMA",
                    help="Unity Catalog schema of the telemetry tables (default otel)")
    group.addoption("--delta-engine", default="deltalake", choices=("deltalake", "spark"),
                    help="engine that writes the sink's Delta tables (default: deltalake, no JVM)")
    group.addoption("--spark-remote", default=None, metavar="sc://HOST:PORT",
                    help="with --delta-engine=spark: a Spark Connect URL instead of a local session")
    add_usage_options(group)
    group.addoption("--conformance-report", default=None, metavar="PATH",
                    help="write the results (per agent and check: outcome, reason, evidence) as JSON")
    group.addoption("--conformance-html", default=None, metavar="PATH",
                    help="write the conformance matrix as a self-contained HTML page")
    target_profile.add_ini_options(parser)  # gwc_* ini keys for the target options, below the file


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    target_profile.configure(config)  # profile + options merged; --gateway-image started
    run_target = target_profile.target_of(config)
    for name in {run_target.token_env, run_target.otlp_token_env}:
        secret.remember(os.environ.get(name))  # the external tokens: scrubbed from every report
    check_binding.configure(config)  # the check marker; tests bound to catalogue IDs
    report_collector.configure(config)  # results when asked for
    if not config.getoption("conformance"):
        return
    preflight.configure(config)  # token, reachability, extras: stop now rather than skip everything
    expectations.configure(config)  # the profile's claims and expected failures
    cost.configure(config)  # tokens the target reported, per check and in total
    suite = suite_dir()
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(suite)]  # no paths given: `pytest --conformance` means "run the suite"
    elif not any(_inside(arg, suite, config.invocation_params.dir) for arg in config.args):
        config.args.append(str(suite))  # other paths given: run them and the suite


def _inside(arg: str, folder: Path, cwd: Path) -> bool:
    """Whether a command-line path (``file.py::test_x`` allowed) names ``folder`` or something in it."""
    path = (cwd / arg.split("::", 1)[0]).resolve()
    return path == folder or folder in path.parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against an external gateway, checks that read or steer the mock's internals cannot run."""
    skip_without_upstream(config, items)
    if not config.getoption("gateway_url"):
        return
    skip = pytest.mark.skip(reason="gwc_mock_only: needs the embedded mock; running against --gateway-url")
    gwc_self_check = pytest.mark.skip(reason="gwc_self_check: judges the suite's own data, not the target")
    for item in items:
        if item.get_closest_marker("gwc_mock_only"):
            item.add_marker(skip)
        elif item.get_closest_marker("gwc_self_check"):
            item.add_marker(gwc_self_check)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without ``--conformance`` the shipped suite is never run, even if named."""
    if config.getoption("conformance"):
        return None
    return True if collection_path == suite_dir() or suite_dir() in collection_path.parents else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every known token out of the report before the terminal, JUnit or the results see it;
    and a failed or skipped setup or call noted: its leftovers are no news then (a test that
    queued a reply and then skipped for a missing agent CLI never got to send the request)."""
    report = scrub_report((yield))
    if report.when in ("setup", "call") and (report.failed or report.skipped):
        item.stash[gateway_fixtures.TEST_FAILED] = True
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector,
                               ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    return scrub_report((yield))



def _requirement(item: pytest.Item) -> str:
    check = catalogue_of(item.config).get(check_id(item) or "")
    return f"{check.requirement.rstrip('.')} ({check.id})" if check else f"what {item.name} checks"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A :class:`~gateway_conformance.remote.RemoteError` in a fixture errors the test with the
    error's one sentence, not a traceback through httpx."""
    try:
        return (yield)
    except RemoteError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """The same for a RemoteError in the test itself; and when an official SDK check fails after
    an SDK request (an SDK exception, a broken condition), its failure is the sentence of the last
    exchange and the check's requirement (:mod:`gateway_conformance.sdk_http`), never an
    exception class name."""
    sdk_http.forget()
    try:
        return (yield)
    except RemoteError as exc:
        message = str(exc)
    except (Exception, pytest.fail.Exception) as exc:  # an SDK's exception, a broken condition or
        if getattr(exc, "pytrace", True) is False:  # pytest.raises finding none, after an SDK request;
            raise  # a failure already written as a sentence stays as it is
        found = sdk_http.sentence(_requirement(item), sdk_http.what_failed(exc))
        if found is None:
            raise
        message = found
    pytest.fail(message, pytrace=False)  # outside the handler: no exception chain in the report

def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    print_compat_matrix(terminalreporter, config)
