"""The external-target path, for real: ``gateway-conformance serve`` in its own process, the
target checks run against its URLs by a separate pytest, and the upgrade diff between a
healthy and a deliberately broken gateway.

The nested runs select the any-target checks (``conformance/test_target_*.py``) so they
take seconds; the token travels from serve's startup line to the nested run through the
environment only. Each breakage's effect on the wire is also checked on its own, in
process, so a breakage that stopped doing anything would be caught even if another one
happened to fail the same check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.gateway.breakage import BREAKAGES, break_gateway, parse_breakages
from gateway_conformance.remote import RemoteClient
from gateway_conformance.report.results import load_report
from gateway_conformance.server import ServerHandle
from gateway_conformance.target import AGENT_SURFACES
from nested_runs import ROOT, check_gateway, serve

TARGET_CHECKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "conformance").glob("test_target_*.py"))
AGENTS = list(AGENT_SURFACES)

# What each breakage must fail, as (agent, check) keys of the results document; nothing else.
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "buffer-streams": {(a, "gateway.stream.not-buffered") for a in AGENTS},
    "drop-stream-event": {(a, "gateway.stream.grammar") for a in AGENTS},
    "rewrite-errors": ({(a, "gateway.auth.invalid-token") for a in AGENTS}
                       | {(a, "gateway.errors.unknown-model") for a in AGENTS}
                       | {("claude-code", "anthropic.headers.beta-forwarded"),
                          ("claude-code", "anthropic.headers.version-forwarded")}),
    "strip-anthropic-beta": {("claude-code", "anthropic.headers.beta-forwarded")},
}


def run_checks(line: dict[str, Any], report: Path, paths: Sequence[str] = TARGET_CHECKS,
               ) -> subprocess.CompletedProcess[str]:
    """Checks against serve's URLs, as a platform team would run them (no paths: the whole suite)."""
    return check_gateway(line["gateway_url"], line["tokens"]["default"], report, *paths,
                         "--workspace-url", line["workspace_url"])


def diff(old: Path, new: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "diff", str(old), str(new)],
                          capture_output=True, text=True, timeout=60)


def regressions_listed(output: str) -> set[tuple[str, str]]:
    """(agent, check) of every line under ``regressions (N):`` in the diff's table."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("regressions ("))
    listed = set()
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        agent, _, rest = line.strip().partition(" / ")
        listed.add((agent, rest.split()[0]))
    return listed


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One healthy and one broken (every breakage at once) serve, each checked by a nested run;
    the two run side by side (each has its own processes and ports)."""
    folder = tmp_path_factory.mktemp("external")

    def checked(name: str, *flags: str) -> tuple[dict[str, Any], subprocess.CompletedProcess[str], Path]:
        with serve(*flags) as line:
            report = folder / f"{name}.json"
            return line, run_checks(line, report), report

    with ThreadPoolExecutor(max_workers=2) as pool:
        healthy = pool.submit(checked, "healthy")
        broken = pool.submit(checked, "broken", "--break", ",".join(BREAKAGES))
        return {"healthy": healthy.result(), "broken": broken.result()}


def test_healthy_gateway_passes_every_any_target_check(runs: dict[str, Any]) -> None:
    line, result, path = runs["healthy"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = load_report(path)
    assert report.implementation.target == "external"
    assert report.implementation.gateway_url == line["gateway_url"]
    assert report.implementation.workspace_url == line["workspace_url"]
    outcomes = {(r.agent, r.check, r.variant): r for r in report.results}
    # Every check of the test_target_* files runs against any target: none may be skipped.
    assert {r.outcome for r in outcomes.values()} == {"pass"}
    assert len(outcomes) >= 40, "the any-target checks did not all run"
    assert line["tokens"]["default"] not in path.read_text(), "the token leaked into the report"


@pytest.fixture(scope="module")
def whole_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The whole shipped suite against a healthy serve. Alone, not beside the other runs: its
    streaming checks judge arrival times, which a starved CPU would blur."""
    report = tmp_path_factory.mktemp("whole") / "whole.json"
    with serve() as line:
        return run_checks(line, report, paths=()), report


def test_the_whole_suite_passes_against_serve_with_mock_only_checks_skipped(
        whole_suite: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, path = whole_suite
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    report = load_report(path)
    skipped = [r for r in report.results if r.outcome == "skip"]
    ran = [r for r in report.results if r.outcome == "pass"]
    assert ran and skipped and {r.outcome for r in report.results} == {"pass", "skip"}
    gwc_mock_only = [r for r in skipped if (r.reason or "").startswith("gwc_mock_only:")]
    assert gwc_mock_only, "no check was skipped as gwc_mock_only"
    assert all("--gateway-url" in (r.reason or "") for r in gwc_mock_only)


def test_broken_gateway_fails_exactly_the_relevant_checks(runs: dict[str, Any]) -> None:
    _, result, path = runs["broken"]
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    failed = {(r.agent, r.check) for r in load_report(path).results if r.outcome == "fail"}
    assert failed == set().union(*EXPECTED.values())


def test_diff_names_exactly_the_regressions_and_exits_non_zero(runs: dict[str, Any]) -> None:
    result = diff(runs["healthy"][2], runs["broken"][2])
    assert result.returncode == 1, result.stdout + result.stderr
    expected = set().union(*EXPECTED.values())
    assert regressions_listed(result.stdout) == expected
    assert f"regressions ({len(expected)}):" in result.stdout
    for section in ("fixes (", "new (", "missing ("):
        assert section not in result.stdout, f"unexpected {section} section:\n{result.stdout}"


def test_diff_the_other_way_lists_fixes_and_exits_zero(runs: dict[str, Any]) -> None:
    result = diff(runs["broken"][2], runs["healthy"][2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"fixes ({len(set().union(*EXPECTED.values()))}):" in result.stdout
    assert "regressions (" not in result.stdout


def test_diff_refuses_unusable_input(tmp_path: Path, runs: dict[str, Any]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 99, "results": []}')
    result = diff(runs["healthy"][2], bad)
    assert result.returncode == 2
    assert "bad.json" in result.stderr and "schema_version" in result.stderr


# ---- each breakage on its own, in process --------------------------------------------------

@pytest.fixture
def broken() -> Iterator[Any]:
    """``broken(name)`` -> a RemoteClient on the mock's anthropic surface behind that breakage."""
    token = new_token()
    core = create_gateway(GatewayConfig(tokens={token: "t"}))
    opened: list[tuple[ServerHandle, RemoteClient]] = []

    def start(name: str) -> RemoteClient:
        server = ServerHandle(break_gateway(core, {name}), name=name).start()
        client = RemoteClient(server.url + "/anthropic", token)
        opened.append((server, client))
        return client
    start.core = core  # type: ignore[attr-defined]
    yield start
    for server, client in opened:
        client.close()
        server.stop()


def _stream(client: RemoteClient, prompt: str = "Count from 1 to 20") -> Any:
    body = {"model": "databricks-claude-opus-4-6", "max_tokens": 256, "stream": True,
            "messages": [{"role": "user", "content": prompt}]}
    return client.request("POST", "/v1/messages", json=body)


def test_buffer_streams_delivers_every_event_at_once(broken: Any) -> None:
    answer = _stream(broken("buffer-streams"))
    times = [rec.t_ms for rec in answer.response.events]
    assert len(times) > 20 and times[-1] - times[0] < 0.1 * times[-1]
    assert not answer.findings("anthropic"), "buffering must not change the bytes"


def test_drop_stream_event_drops_only_the_last(broken: Any) -> None:
    answer = _stream(broken("drop-stream-event"), "hello")
    types = [json.loads(rec.event.data)["type"] for rec in answer.response.events]
    assert types[0] == "message_start" and types[-1] == "message_delta"
    assert "message_stop" not in types


def test_rewrite_errors_replaces_the_envelope(broken: Any) -> None:
    client = broken("rewrite-errors")
    answer = client.request("POST", "/v1/messages", json={"model": "x"}, token="wrong")
    assert answer.status == 401
    assert answer.json == {"error_code": "UNAUTHORIZED", "message": "Upstream request failed (401)"}


def test_strip_anthropic_beta_hides_the_header_from_the_upstream(broken: Any) -> None:
    client = broken("strip-anthropic-beta")
    body = {"model": "databricks-claude-opus-4-6", "max_tokens": 8,
            "messages": [{"role": "user", "content": "x"}]}
    headers = {"anthropic-beta": "claude-code-20250219", "anthropic-version": "2023-06-01"}
    answer = client.request("POST", "/v1/messages", json=body, headers=headers)
    assert answer.status == 200
    (record,) = broken.core.ledger.records(surface="anthropic")
    assert "anthropic-beta" not in record.headers and record.headers["anthropic-version"] == "2023-06-01"


def test_no_breakage_installs_no_wrapper_and_unknown_names_are_refused() -> None:
    core = create_gateway(GatewayConfig(tokens={new_token(): "t"}))
    assert break_gateway(core, ()) is core
    with pytest.raises(ValueError, match="unknown breakage nope; known: buffer-streams"):
        parse_breakages("buffer-streams,nope")


def test_serve_refuses_an_unknown_breakage() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "serve", "--no-sink",
                             "--break", "buffer-everything"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "unknown breakage buffer-everything" in result.stderr


def test_serve_without_the_sink_prints_no_workspace() -> None:
    with serve("--no-sink") as line:
        assert line["components"] == ["gateway"] and "workspace_url" not in line
        assert httpx.get(line["gateway_url"] + "/anthropic", timeout=10).status_code == 200


# ---- the target profile's options ---------------------------------------------------------------

def _run_suite(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--conformance",
               "conformance/test_target_surfaces.py", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_model_option_reaches_the_requests() -> None:
    """A model the mock does not serve, for one agent only: only that agent's check fails."""
    result = _run_suite("-k", "json_grammar", "--model", "codex=not-served-here")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed, 3 passed" in result.stdout
    assert "test_json_grammar[codex]" in result.stdout and "not-served-here" in result.stdout


def test_malformed_model_option_is_a_usage_error() -> None:
    result = _run_suite("--model", "claude=x")
    assert result.returncode == 4
    assert "--model: unknown agent 'claude'; known: claude-code, codex, cursor, gemini-cli" in result.stderr
