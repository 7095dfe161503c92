"""The real agent CLIs, configured by the harness, talking to the gateway and the OTLP sink.

Each test renders an agent's config into a throwaway HOME, launches the CLI installed by
``npm ci`` or ``gateway-conformance agents install`` (bounded in time, environment scrubbed,
background traffic off) and asserts on
both sides: what the CLI printed and what the gateway's ledger (or the sink's Delta tables)
recorded. The real CLIs are the independent judges of the mock and of the configs.

Expected outcomes of the compatibility matrix are data: ``[compat] documented_max`` in
``fixtures/agents/<agent>/agent.toml``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from gateway_conformance.agents import launch, registry
from gateway_conformance.gateway.app import Gateway
from gateway_conformance.gateway.faults import FaultQueue
from gateway_conformance.gateway.ledger import Ledger, LedgerRecord
from gateway_conformance.gateway.responders import EchoResponder, ScriptedResponder
from gateway_conformance.gateway.turns import ChatRequest, Reply
from gateway_conformance.gateway.usage.recorder import UsageRecorder
from gateway_conformance.otlp.sink import SinkHandle
from gateway_conformance.pytest_fixtures.agents import AgentResult, AgentRunner, CompatCell
from gateway_conformance.secret import Secret

pytestmark = [pytest.mark.gwc_agents, pytest.mark.gwc_mock_only]

# The agents with a CLI to launch (agent.toml names an npm package); Cursor has none.
CLIS = tuple(agent.name for agent in registry.all_agents() if agent.spec.npm_package)
AUTH_ERROR = re.compile(r"401|unauthori[sz]ed|authenticat|invalid bearer token", re.IGNORECASE)


def marker_text() -> str:
    """A reply no CLI could print unless it came from this test's scripted turn."""
    return f"Gateway reply {uuid.uuid4().hex[:12]}"


def generate_records(ledger: Ledger) -> list[LedgerRecord]:
    return ledger.records(endpoint="generate")


def expected_path(result: AgentResult) -> str:
    return result.agent.spec.traits.path.replace("{model}", result.profile.model(result.agent.name))


class RecordingResponder:
    """The echo responder, keeping every request it answered (the tool results sent back)."""

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []
        self._echo = EchoResponder()

    def respond(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        return self._echo.respond(request)


# --- one prompt through the gateway -----------------------------------------------------------

@pytest.mark.gwc_check("agents.cli.answers")
@pytest.mark.parametrize("name", CLIS)
def test_generated_config_answers_through_the_gateway(name: str, gwc_run_agent: AgentRunner,
                                                      gwc_gateway_script: ScriptedResponder,
                                                      gwc_gateway_ledger: Ledger, gwc_clean_gateway: Gateway,
                                                      gwc_gateway_token: Secret,
                                                      gwc_usage_recorder: UsageRecorder,
                                                      record_property: Callable[[str, Any], None]) -> None:
    text = marker_text()
    gwc_gateway_script.text(text)
    result = gwc_run_agent(name, "Say something through the gateway.")
    record_property("agent_version", result.installation.version)
    record_property("config", "generated")
    record_property("seconds", round(result.run.seconds, 2))
    assert result.ok, result.describe()
    assert text in result.run.stdout, result.describe()

    traits = result.agent.spec.traits
    answered = [r for r in generate_records(gwc_gateway_ledger) if r.status == 200]
    assert answered, "the gateway answered no generate request"
    for record in answered:
        assert record.path == expected_path(result)
        # the bearer token's owner
        assert record.identity == gwc_clean_gateway.config.tokens[gwc_gateway_token.reveal()]
        assert record.model == result.profile.model(name)
        assert record.agent == name
        assert (record.user_agent or "").startswith(traits.user_agent_prefix)
        for header, value in traits.headers.items():
            assert record.headers.get(header) == value, f"{header} missing or wrong: {record.headers}"
        if traits.session_header:
            assert record.session_id, f"no {traits.session_header} session header: {record.headers}"
    assert_one_usage_row_per_request(gwc_usage_recorder, gwc_gateway_ledger.records())


def assert_one_usage_row_per_request(recorder: UsageRecorder, records: list[LedgerRecord]) -> None:
    """Every request the CLI sent is exactly one usage row, with the tokens and status it got."""
    recorder.flush()
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in recorder.writer.read(recorder.tables.usage).to_pylist():
        rows.setdefault(row["request_id"], []).append(row)
    for record in records:
        found = rows.get(record.request_id, [])
        assert len(found) == 1, (f"{record.method} {record.path} ({record.status}): {len(found)} usage rows "
                                 f"in {recorder.tables.usage}, expected exactly one")
        (row,) = found
        assert (row["status_code"], row["requester"], row["agent"]) == (record.status, record.identity,
                                                                         record.agent)
        if record.endpoint == "generate" and record.status == 200:
            sent = (record.input_tokens, record.output_tokens)
            assert (row["input_tokens"], row["output_tokens"]) == sent, (
                f"usage row of {record.path}: tokens {row['input_tokens']}/{row['output_tokens']}, "
                f"the CLI was sent {sent[0]}/{sent[1]}")


# --- a tool-use round trip --------------------------------------------------------------------

@pytest.mark.gwc_check("agents.cli.tool-round-trip")
@pytest.mark.parametrize("name", CLIS)
def test_tool_call_round_trip_writes_a_file(name: str, gwc_run_agent: AgentRunner, tmp_path: Any,
                                            gwc_gateway_script: ScriptedResponder, gwc_clean_gateway: Gateway,
                                            gwc_gateway_ledger: Ledger) -> None:
    spec = registry.get(name).spec
    assert spec.tool is not None, f"{name}: agent.toml names no file-writing tool"
    workdir = tmp_path / "work"
    target = workdir / "written-by-agent.txt"
    content = f"tool-round-trip-{uuid.uuid4().hex[:8]}"
    gwc_gateway_script.tool_call(spec.tool.name, spec.tool.call_arguments(str(target), content))
    recorder = RecordingResponder()
    gwc_clean_gateway.responder = recorder  # answers the turn after the tool call, keeping the request
    result = gwc_run_agent(name, "Write the file you are asked to write.", allow_tools=True, workdir=workdir)
    assert result.ok, result.describe()
    assert target.read_text() == content
    assert recorder.requests, "the agent never came back after the tool call"
    follow_up = recorder.requests[0]
    assert follow_up.tool_results, f"the request after the tool call carried no tool result: {follow_up.raw}"
    assert "Tool results received" in result.run.stdout, result.describe()
    statuses = [r.status for r in generate_records(gwc_gateway_ledger)]
    assert statuses.count(200) >= 2, statuses


# --- failure handling -------------------------------------------------------------------------

@pytest.mark.gwc_check("agents.cli.retries-429")
@pytest.mark.parametrize("name", CLIS)
def test_429_with_retry_after_is_retried(name: str, gwc_run_agent: AgentRunner,
                                         gwc_gateway_script: ScriptedResponder,
                                         gwc_gateway_faults: FaultQueue,
                                         gwc_gateway_ledger: Ledger,
                                         record_property: Callable[[str, Any], None]) -> None:
    spec = registry.get(name).spec
    gwc_gateway_faults.inject(status=429, retry_after=1, surface=spec.surface)
    text = marker_text()
    gwc_gateway_script.text(text)
    result = gwc_run_agent(name, "Say something after a rate limit.")
    assert result.ok, result.describe()
    assert text in result.run.stdout, result.describe()
    records = generate_records(gwc_gateway_ledger)
    statuses = [r.status for r in records]
    assert statuses[0] == 429 and 200 in statuses, statuses
    retry = next(r for r in records if r.status == 200)
    waited = retry.started_at - records[0].started_at
    record_property("retry_wait_seconds", round(waited, 2))
    assert waited >= 0.9, f"retried after {waited:.2f}s despite Retry-After: 1"


@pytest.mark.gwc_check("agents.cli.auth-error")
@pytest.mark.parametrize("name", CLIS)
def test_rejected_token_fails_with_an_auth_error(name: str, gwc_run_agent: AgentRunner,
                                                 gwc_gateway_ledger: Ledger) -> None:
    result = gwc_run_agent(name, "This must not be answered.", token=f"gwc-rejected-{uuid.uuid4().hex[:8]}")
    assert not result.run.timed_out, result.describe()
    assert result.run.returncode != 0, result.describe()
    assert AUTH_ERROR.search(result.run.output), result.describe()
    records = generate_records(gwc_gateway_ledger)
    assert records and all(r.status == 401 and r.identity is None for r in records), \
        [(r.status, r.identity) for r in records]


# --- the compatibility matrix -----------------------------------------------------------------

def _matrix_cases() -> list[Any]:
    cases = []
    for name in CLIS:
        spec = registry.get(name).spec
        for inst in launch.installations(spec):
            for layout in ("documented", "generated"):
                expected = layout == "generated" or spec.documented_works(inst.version)
                mark = pytest.mark.gwc_check(agent=name, config=layout)
                cases.append(pytest.param(name, inst.version, layout, expected, marks=mark,
                                          id=f"{name}-{inst.version}-{layout}"))
    if not cases:
        skip = pytest.mark.skip(
            reason=f"no agent CLI installed: {launch.install_hint(launch.default_node_modules())}")
        cases += [pytest.param(name, None, None, None, marks=[skip, pytest.mark.gwc_check(agent=name)],
                               id=f"{name}-none-installed") for name in CLIS]
    return cases


@pytest.mark.gwc_check("agents.config.compatibility")
@pytest.mark.parametrize(("name", "version", "layout", "expected_pass"), _matrix_cases())
def test_config_compatibility_matrix(name: str, version: str, layout: str, expected_pass: bool,
                                     gwc_run_agent: AgentRunner, gwc_gateway_script: ScriptedResponder,
                                     gwc_gateway_ledger: Ledger, gwc_compat_matrix: list[CompatCell],
                                     record_property: Callable[[str, Any], None]) -> None:
    text = marker_text()
    gwc_gateway_script.text(text)
    result = gwc_run_agent(name, "Answer through the gateway.", version=version,
                       as_documented=layout == "documented", timeout=60)
    answered = [r for r in generate_records(gwc_gateway_ledger) if r.status == 200]
    passed = result.ok and text in result.run.stdout and bool(answered)
    detail = "" if passed else (result.run.output.strip().splitlines() or ["(no output)"])[-1][:160]
    gwc_compat_matrix.append(CompatCell(name, version, layout, expected_pass, passed, detail))
    record_property("agent_version", version)
    record_property("config", layout)
    record_property("expected", "pass" if expected_pass else "fail")
    record_property("works", "yes" if passed else "no")  # read by `gateway-conformance agents canary`
    if not passed:
        gwc_gateway_script.clear()  # a config the CLI refuses never asks for the reply (strict leftovers)
    assert passed == expected_pass, (
        f"{layout} config on {name} {version}: expected {'pass' if expected_pass else 'fail'}, "
        f"got {'pass' if passed else 'fail'}\n{result.describe()}")


# --- telemetry end to end ---------------------------------------------------------------------

def _attrs(value: Any) -> dict[str, Any]:
    return dict(value or {})


def _service(row: dict[str, Any]) -> str | None:
    return _attrs((row.get("resource") or {}).get("attributes")).get("service.name")


def _rows(sink: SinkHandle, signal: str, service: str, *, settle: float = 10.0) -> list[dict[str, Any]]:
    """The rows ``service`` exported to ``signal``'s table; waits briefly for a late commit."""
    deadline = time.monotonic() + settle
    while True:
        rows = [r for r in sink.writer.read(sink.table_names[signal]).to_pylist() if _service(r) == service]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


@pytest.mark.gwc_check("agents.telemetry.claude-code-matches-ledger")
def test_claude_code_telemetry_lands_in_delta_and_matches_the_ledger(
        gwc_run_agent: AgentRunner, gwc_agent_sink: SinkHandle, gwc_gateway_ledger: Ledger) -> None:
    result = gwc_run_agent("claude-code", "Say something that is measured.", telemetry=True)
    assert result.ok, result.describe()
    answered = [r for r in generate_records(gwc_gateway_ledger) if r.status == 200]
    assert answered
    session = answered[0].session_id
    metrics = [r for r in _rows(gwc_agent_sink, "metrics", "claude-code")
               if _attrs(r["sum"]["attributes"]).get("session.id") == session]
    names = {r["name"] for r in metrics}
    assert {"claude_code.session.count", "claude_code.token.usage", "claude_code.cost.usage"} <= names, names

    def tokens(kind: str) -> float:
        return sum(r["sum"]["value"] for r in metrics if r["name"] == "claude_code.token.usage"
                   and _attrs(r["sum"]["attributes"]).get("type") == kind)

    assert {_attrs(r["sum"]["attributes"]).get("type") for r in metrics
            if r["name"] == "claude_code.token.usage"} == {"input", "output", "cacheRead", "cacheCreation"}
    assert tokens("input") == sum(r.input_tokens for r in answered)
    assert tokens("output") == sum(r.output_tokens for r in answered)
    assert sum(r["sum"]["value"] for r in metrics if r["name"] == "claude_code.cost.usage") > 0

    logs = [r for r in _rows(gwc_agent_sink, "logs", "claude-code")
            if _attrs(r["attributes"]).get("session.id") == session]
    events = {_attrs(r["attributes"]).get("event.name") for r in logs}
    assert {"user_prompt", "api_request"} <= events, events
    assert {r["body"] for r in logs} >= {"claude_code.user_prompt", "claude_code.api_request"}
    api_requests = [_attrs(r["attributes"]) for r in logs
                    if _attrs(r["attributes"]).get("event.name") == "api_request"]
    assert sum(int(a["input_tokens"]) for a in api_requests) == sum(r.input_tokens for r in answered)
    assert sum(int(a["output_tokens"]) for a in api_requests) == sum(r.output_tokens for r in answered)


def _run_exporting(run_agent: AgentRunner, agent_sink: SinkHandle, agent: str, media_type: str) -> None:
    """Run ``agent`` with telemetry on; every signal must be acknowledged in ``media_type``."""
    before = agent_sink.sink.acknowledged.copy()
    result = run_agent(agent, "Say something that is measured.", telemetry=True)
    assert result.ok, result.describe()
    posted = agent_sink.sink.acknowledged - before
    assert all(posted[signal, media_type] for signal in ("metrics", "logs", "spans")), \
        f"{agent} exports OTLP as {media_type}; the sink acknowledged {dict(posted)}"


@pytest.mark.gwc_check("agents.telemetry.gemini-cli-json-export")
def test_gemini_cli_otlp_json_export_lands_in_all_three_tables(gwc_run_agent: AgentRunner,
                                                               gwc_agent_sink: SinkHandle,
                                                               gwc_gateway_ledger: Ledger) -> None:
    _run_exporting(gwc_run_agent, gwc_agent_sink, "gemini-cli", "application/json")
    metrics = _rows(gwc_agent_sink, "metrics", "gemini-cli")
    names = {r["name"] for r in metrics}
    assert {"gemini_cli.api.request.count", "gemini_cli.token.usage"} <= names, names
    usage = {(_attrs(r["sum"]["attributes"]).get("type"), r["sum"]["value"]) for r in metrics
             if r["name"] == "gemini_cli.token.usage"}
    answered = [r for r in generate_records(gwc_gateway_ledger) if r.status == 200]
    assert ("input", sum(r.input_tokens for r in answered)) in usage, (usage, answered)
    assert ("output", sum(r.output_tokens for r in answered)) in usage, (usage, answered)
    assert _rows(gwc_agent_sink, "logs", "gemini-cli"), "no Gemini CLI log rows"
    assert _rows(gwc_agent_sink, "spans", "gemini-cli"), "no Gemini CLI span rows"


@pytest.mark.gwc_check("agents.telemetry.codex-export")
def test_codex_otlp_export_lands_in_all_three_tables(gwc_run_agent: AgentRunner,
                                                     gwc_agent_sink: SinkHandle) -> None:
    _run_exporting(gwc_run_agent, gwc_agent_sink, "codex", "application/x-protobuf")
    assert "codex.api_request" in {r["name"] for r in _rows(gwc_agent_sink, "metrics", "codex_exec")}
    events = {_attrs(r["attributes"]).get("event.name") for r in _rows(gwc_agent_sink, "logs", "codex_exec")}
    assert {"codex.user_prompt", "codex.api_request"} <= events, events
    assert _rows(gwc_agent_sink, "spans", "codex_exec"), "no Codex span rows"
