"""The report page, from a real run, in a real browser (Debian's Chromium driven by Playwright).

The data takes the paths real data takes: the OpenTelemetry SDK exports Claude Code's
metrics and events over OTLP/HTTP into the embedded sink, which commits them to Delta;
the official SDKs send traffic (with agents' user agents) through the mock gateway, whose
admin route hands out the ledger; two inner pytest runs write ``--conformance-report``
JSONs (before and after an "upgrade"). ``gateway-conformance report`` renders the page and
Chromium opens it with every non-file request blocked.

Screenshots go to ``artifacts/report/`` (a CI artifact); with ``GWC_SCREENSHOT_DIR`` set the
dashboard, matrix and diff shots are also copied there: that is how ``docs/img/*.png`` are
regenerated (docs/report.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter as OtelCounter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from gateway_conformance.checks import catalogue
from gateway_conformance.cli import main as cli_main
from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.gateway.policy import Limits
from gateway_conformance.gateway.usage.recorder import UsageRecorder, UsageTables
from gateway_conformance.gateway.usage.tags import SUITE_TAG
from gateway_conformance.otlp.sink import SinkHandle, start_sink
from gateway_conformance.report.matrix import check_matrix
from gateway_conformance.report.results import load_report
from gateway_conformance.server import ServerHandle
from gateway_conformance.tables.delta import DeltaRsWriter, read_table

pytestmark = pytest.mark.gwc_browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PREFIX = "report_demo"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "report"
OPUS, SONNET = "databricks-claude-opus-4-6", "databricks-claude-sonnet-4-5"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: run .ci/install-browser.sh (Debian's chromium package)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")


# ----- telemetry: the OpenTelemetry SDK exporting what Claude Code exports ----------------------

# (type, model) -> tokens; (model) -> USD; what the dashboard must add up to.
TOKENS = {("input", OPUS): 1200, ("output", OPUS): 340, ("cacheRead", OPUS): 5000,
          ("cacheCreation", OPUS): 800, ("input", SONNET): 600, ("output", SONNET): 90}
COST = {OPUS: 0.0421, SONNET: 0.0067}
ACTIVE = {"user": 12.5, "cli": 30.25}
LATENCY_MS = {OPUS: [850, 1200, 2300], SONNET: [400, 650]}
ERRORS = [(OPUS, 429), (SONNET, 529), (OPUS, None)]
DECISIONS = [("Edit", "accept"), ("Edit", "accept"), ("Bash", "reject"), ("Write", "accept")]


def _exporter_headers(sink: SinkHandle, token: str, signal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Databricks-UC-Table-Name": str(sink.table_names[signal])}


def _meter_provider(sink: SinkHandle, token: str, temporality: AggregationTemporality,
                    resource: Resource) -> MeterProvider:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    exporter = OTLPMetricExporter(endpoint=sink.endpoint("metrics"),
                                  headers=_exporter_headers(sink, token, "metrics"),
                                  preferred_temporality={OtelCounter: temporality})
    # Exports only on force_flush: the test decides when a collection happens.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(metric_readers=[reader], resource=resource)


def export_claude_code_telemetry(sink: SinkHandle, token: str) -> None:
    """Claude Code's counters (delta, its default) and events, over OTLP/HTTP protobuf.

    Lines of code go through a cumulative exporter, collected twice, so the dashboard's
    differencing of cumulative counters is exercised by a real SDK.
    """
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    resource = Resource.create({"service.name": "claude-code", "service.version": "2.1.197"})
    delta = _meter_provider(sink, token, AggregationTemporality.DELTA, resource)
    meter = delta.get_meter("com.anthropic.claude_code")
    sessions = meter.create_counter("claude_code.session.count", unit="count")
    for session in ("s-1", "s-2"):
        sessions.add(1, {"session.id": session, "start_type": "fresh"})
    active = meter.create_counter("claude_code.active_time.total", unit="s")
    for kind, seconds in ACTIVE.items():
        active.add(seconds, {"type": kind, "session.id": "s-1"})
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    for (kind, model), count in TOKENS.items():
        tokens.add(count, {"type": kind, "model": model, "session.id": "s-1"})
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    for model, usd in COST.items():
        cost.add(usd, {"model": model, "session.id": "s-1"})
    meter.create_counter("claude_code.commit.count").add(2, {"session.id": "s-1"})
    meter.create_counter("claude_code.pull_request.count").add(1, {"session.id": "s-1"})
    assert delta.force_flush(timeout_millis=10_000)
    delta.shutdown()

    cumulative = _meter_provider(sink, token, AggregationTemporality.CUMULATIVE, resource)
    lines = cumulative.get_meter("com.anthropic.claude_code").create_counter(
        "claude_code.lines_of_code.count")
    lines.add(10, {"type": "added", "session.id": "s-1"})
    lines.add(3, {"type": "removed", "session.id": "s-1"})
    assert cumulative.force_flush(timeout_millis=10_000)
    lines.add(5, {"type": "added", "session.id": "s-1"})
    assert cumulative.force_flush(timeout_millis=10_000)
    cumulative.shutdown()

    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=sink.endpoint("logs"), headers=_exporter_headers(sink, token, "logs"))))
    logger = logs.get_logger("com.anthropic.claude_code")
    sequence = iter(range(1, 100))

    def event(name: str, attributes: dict[str, Any], *, new_style: bool) -> None:
        # Both spellings real exporters use: the LogRecord's event_name, or only the body and
        # the documented `event.name` attribute.
        attrs = {"event.name": name, "event.sequence": next(sequence), "session.id": "s-1", **attributes}
        logger.emit(body=f"claude_code.{name}", attributes=attrs,
                    event_name=f"claude_code.{name}" if new_style else None)

    event("user_prompt", {"prompt_length": 42}, new_style=True)
    for model, durations in LATENCY_MS.items():
        for i, duration in enumerate(durations):
            event("api_request", {"model": model, "duration_ms": duration, "cost_usd": 0.01,
                                  "input_tokens": 100, "output_tokens": 20}, new_style=i % 2 == 0)
    for model, status in ERRORS:
        attributes: dict[str, Any] = {"model": model, "error": "overloaded", "attempt": 1, "duration_ms": 90}
        if status is not None:
            attributes["status_code"] = status
        event("api_error", attributes, new_style=False)
    for tool, decision in DECISIONS:
        event("tool_decision", {"tool_name": tool, "decision": decision, "source": "config"}, new_style=True)
    assert logs.force_flush(timeout_millis=10_000)
    logs.shutdown()


# ----- gateway traffic through the official SDKs -----------------------------------------------

def drive_gateway(tmp: Path) -> Path:
    """Traffic of three agents through the mock (3 requests a minute per token), ledger to JSON.

    The mock also writes its usage table next to the sink's tables (deltalake), with two kinds
    of rows the dashboard must leave out: a request the suite tagged as its own check, and a
    health probe sent with the suite's user agent.
    """
    alice, bob = new_token(), new_token()
    core = create_gateway(GatewayConfig(tokens={alice: "alice", bob: "bob"}, limits=Limits(qpm=3)))
    writer = DeltaRsWriter(tmp / "tables")
    recorder = UsageRecorder(writer, UsageTables.for_prefix("main", "otel", PREFIX), secrets=[alice, bob])
    core.usage = recorder
    with ServerHandle(core, name="report-gateway") as server:
        claude = anthropic.Anthropic(base_url=f"{server.url}/anthropic", auth_token=alice, max_retries=0,
                                     default_headers={"User-Agent": "claude-cli/2.1.197 (external, cli)"})
        codex = openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key=bob, max_retries=0,
                              default_headers={"User-Agent": "codex_cli_rs/0.133.0"})
        cursor = openai.OpenAI(base_url=f"{server.url}/cursor/v1", api_key=bob, max_retries=0,
                               default_headers={"User-Agent": "Cursor/1.7"})
        prompt = [{"role": "user", "content": "Say something about gateways."}]
        with pytest.raises(anthropic.NotFoundError):
            claude.messages.create(model="no-such-model", max_tokens=64, messages=prompt)
        for _ in range(3):
            claude.messages.create(model=OPUS, max_tokens=64, messages=prompt)
        with pytest.raises(anthropic.RateLimitError):
            claude.messages.create(model=OPUS, max_tokens=64, messages=prompt)
        for _ in range(2):
            codex.responses.create(model="databricks-gpt-5-2", input="Say something.")
        cursor.chat.completions.create(model="databricks-gpt-5-2", messages=prompt)
        with pytest.raises(openai.RateLimitError):
            cursor.chat.completions.create(model="databricks-gpt-5-2", messages=prompt)
        probe_tags = {"Databricks-Ai-Gateway-Request-Tags": json.dumps({SUITE_TAG: "report-page"})}
        with pytest.raises(openai.RateLimitError):  # the suite's own check: not usage
            codex.responses.create(model="databricks-gpt-5-2", input="probe", extra_headers=probe_tags)
        httpx.get(f"{server.url}/anthropic/", headers={"User-Agent": "gateway-conformance/0.1"})
        admin = {"Authorization": f"Bearer {core.admin_token.reveal()}"}
        answer = httpx.get(f"{server.url}/_admin/ledger", headers=admin)
        answer.raise_for_status()
    recorder.close()
    writer.close()
    path = tmp / "ledger.json"
    path.write_text(answer.text, encoding="utf-8")
    return path


# ----- two inner pytest runs: before and after an upgrade ----------------------------------------

DEMO_SUITE = '''
"""A demo suite whose outcomes depend on DEMO_PHASE; it feeds the report, not a gateway."""
import os
import pytest

AFTER = os.environ["DEMO_PHASE"] == "after"
AGENTS = ["claude-code", "codex", "gemini-cli", "cursor"]


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.gwc_check("gateway.stream.grammar")
def test_stream_grammar(agent, record_property):
    record_property("events", 7)
    record_property("implementation.name", "acme-gateway")
    record_property("implementation.version", "1.5.0" if AFTER else "1.4.2")


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.gwc_check("gateway.stream.not-buffered")
def test_not_buffered(agent, record_property):
    first, last = (950, 1000) if AFTER and agent == "claude-code" else (40, 1000)
    record_property("first_event_ms", first)
    assert first < last / 2, f"first event after {first} ms of {last} ms: the stream was buffered"


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.gwc_check("gateway.auth.invalid-token")
def test_auth_envelope(agent):
    pass


@pytest.mark.gwc_check("anthropic.headers.beta-forwarded")
def test_beta_forwarded():
    seen = None if AFTER else "context-1m-2025-08-07"
    assert seen == "context-1m-2025-08-07", "the gateway stripped anthropic-beta"


@pytest.mark.gwc_check("gemini.count-tokens.matches-usage")
def test_count_tokens():
    assert AFTER, "countTokens answered 404"


@pytest.mark.gwc_check("openai.sdk.function-call-round-trip")
def test_ledger_usage():
    pytest.skip("gwc_mock_only: needs the embedded mock; running against --gateway-url")


@pytest.mark.gwc_check("openai.errors.param-named")
@pytest.mark.parametrize("surface", ["openai", "cursor"])
def test_param_named(surface):
    pytest.skip("gwc_mock_only: needs the embedded mock; running against --gateway-url")


@pytest.mark.parametrize("body", ["protobuf", "json", "gzip", "empty", "invalid"])
@pytest.mark.gwc_check("otlp.http.protobuf-export")
def test_otlp_export(body):
    pass


@pytest.mark.parametrize(("agent", "version", "config", "works"), [
    ("claude-code", "2.1.197", "documented", True), ("claude-code", "2.1.197", "generated", True),
    ("codex", "0.133.0", "documented", True), ("codex", "0.171.0", "documented", False),
    ("codex", "0.171.0", "generated", True), ("gemini-cli", "0.39.0", "documented", True),
    ("gemini-cli", "0.61.0", "documented", False), ("gemini-cli", "0.61.0", "generated", True),
])
@pytest.mark.gwc_check("agents.config.compatibility")
def test_agent_launch(agent, version, config, works, record_property):
    """As the real matrix test: a configuration documented to fail passes when it fails."""
    record_property("agent_version", version)
    record_property("config", config)
    record_property("expected", "pass" if works else "fail")
'''


def run_demo_suite(tmp: Path) -> tuple[Path, Path]:
    """The "before" and "after" runs, as two concurrent pytest processes (each is mostly startup)."""
    suite = tmp / "demo_suite"
    suite.mkdir(exist_ok=True)
    (suite / "test_demo_checks.py").write_text(DEMO_SUITE, encoding="utf-8")
    runs = {}
    for phase in ("before", "after"):
        out = tmp / f"results-{phase}.json"
        runs[out] = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider",
             "--conformance-report", str(out)], cwd=tmp, env={**os.environ, "DEMO_PHASE": phase},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for out, process in runs.items():
        output, _ = process.communicate(timeout=120)
        assert out.exists(), output
    before, after = runs
    return before, after


# ----- the page in Chromium -----------------------------------------------------------------------

@dataclass
class Rendered:
    page: Any
    html: Path
    console_errors: list[str]
    blocked: list[str]
    results_before: Path
    results_after: Path
    ledger: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_offline(browser: Any, html: Path, width: int = 1400) -> tuple[Any, list[str], list[str]]:
    """Open a page with every non-file request aborted; collect console errors and blocked URLs."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    blocked: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def guard(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto(html.as_uri())
    page.wait_for_function("document.querySelectorAll('figure.chart[data-state=\"ok\"]').length === 0",
                           timeout=30_000)
    return page, errors, blocked


@pytest.fixture(scope="module")
def rendered(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    tmp = tmp_path_factory.mktemp("report-page")
    token = new_token()
    with start_sink(tmp / "tables", PREFIX, [token]) as sink:
        export_claude_code_telemetry(sink, token)
    ledger = drive_gateway(tmp)
    before, after = run_demo_suite(tmp)
    html = tmp / "report.html"
    assert cli_main(["report", "--tables-dir", str(tmp / "tables"), "--table-prefix", PREFIX,
                     "--ledger", str(ledger), "--results", str(before), "--results", str(after),
                     "--out", str(html)]) == 0
    page, errors, blocked = open_offline(browser, html)
    yield Rendered(page, html, errors, blocked, before, after, ledger)
    page.close()


def _chart(page: Any, chart_id: str) -> dict[str, Any]:
    """What the browser holds for a chart: its figure attributes and plotly's own traces."""
    return page.evaluate("""id => {
        const fig = document.getElementById(id);
        const gd = document.getElementById(id + '-plot');
        return {state: fig.dataset.state, seriesCount: +fig.dataset.seriesCount,
                pointCount: +fig.dataset.pointCount,
                // categories as x, values as y, whichever way the bars lie
                traces: gd && gd.data ? gd.data.map(t => t.orientation === 'h'
                    ? {name: t.name, x: Array.from(t.y), y: Array.from(t.x)}
                    : {name: t.name, x: Array.from(t.x), y: t.y ? Array.from(t.y) : null}) : null};
    }""", chart_id)


def _sums(chart: dict[str, Any]) -> dict[str, float]:
    return {t["name"]: round(sum(t["y"]), 6) for t in chart["traces"]}


def _save(page: Any, name: str, *, selector: str | None = None, publish: bool = False) -> None:
    """Screenshot into artifacts/report/; ``publish``: also into $GWC_SCREENSHOT_DIR (docs/img)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    if selector:
        page.locator(selector).screenshot(path=str(target))
    else:
        page.screenshot(path=str(target), full_page=True)
    extra = os.environ.get("GWC_SCREENSHOT_DIR")
    if extra and publish:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, Path(extra) / name)


def test_page_renders_offline_without_console_errors(rendered: Rendered) -> None:
    assert rendered.console_errors == []
    assert rendered.blocked == []  # nothing even tried the network
    states = rendered.page.evaluate(
        "Array.from(document.querySelectorAll('figure.chart')).map(f => [f.id, f.dataset.state])")
    assert dict(states) == {chart_id: "rendered" for chart_id, _ in states}
    assert len(states) == 21
    assert rendered.page.locator("svg.main-svg").count() >= 21  # plotly drew, from the inlined bundle
    _save(rendered.page, "report-full.png")
    _save(rendered.page, "dashboard.png", selector="#dashboard", publish=True)


def test_metric_charts_add_up_to_what_was_exported(rendered: Rendered) -> None:
    page = rendered.page
    by_type = _chart(page, "chart-tokens-by-type")
    expected_by_type: Counter[str] = Counter()
    expected_by_model: Counter[str] = Counter()
    for (kind, model), count in TOKENS.items():
        expected_by_type[kind] += count
        expected_by_model[model] += count
    assert _sums(by_type) == dict(expected_by_type)
    assert by_type["seriesCount"] == 4 == len(by_type["traces"])
    assert _sums(_chart(page, "chart-tokens-by-model")) == dict(expected_by_model)
    assert _sums(_chart(page, "chart-cost")) == COST
    assert _sums(_chart(page, "chart-active-time")) == ACTIVE
    assert _sums(_chart(page, "chart-sessions")) == {"claude-code": 2}
    # Cumulative points 10 then 15 are increments 10 and 5, not 25.
    assert _sums(_chart(page, "chart-lines-of-code")) == {"added": 15, "removed": 3}
    assert _sums(_chart(page, "chart-commits-prs")) == {"commits": 2, "pull requests": 1}
    for chart_id in ("chart-tokens-by-type", "chart-cost", "chart-sessions"):
        chart = _chart(page, chart_id)
        assert chart["pointCount"] == sum(len(t["x"]) for t in chart["traces"])
    assert page.get_attribute("#kpi-tokens", "data-value") == repr(float(sum(TOKENS.values())))


def test_event_charts_match_the_events_sent(rendered: Rendered) -> None:
    page = rendered.page
    latency = _chart(page, "chart-api-latency")
    assert {t["name"]: sorted(t["x"]) for t in latency["traces"]} == {
        model: sorted(float(v) for v in values) for model, values in LATENCY_MS.items()}
    assert latency["pointCount"] == 5
    errors = _chart(page, "chart-api-errors")
    assert {(t["name"], x): y for t in errors["traces"] for x, y in zip(t["x"], t["y"], strict=True)} == {
        (OPUS, "429"): 1, (SONNET, "529"): 1, (OPUS, "no status (connection)"): 1}
    decisions = _chart(page, "chart-tool-decisions")
    assert {(t["name"], x): y for t in decisions["traces"] for x, y in zip(t["x"], t["y"], strict=True)} == {
        ("accept", "Edit"): 2, ("accept", "Write"): 1, ("reject", "Bash"): 1}


def test_ledger_charts_match_the_ledger(rendered: Rendered) -> None:
    records = [r for r in json.loads(rendered.ledger.read_text())["records"]  # the suite's own: not usage
               if r["agent"] != "gateway-conformance" and SUITE_TAG not in r["request_tags"]]
    expected = Counter((str(r["status"]), f"{r['agent']} / {r['model']}") for r in records)
    assert {status for status, _ in expected} >= {"200", "404", "429"}
    requests = _chart(rendered.page, "chart-ledger-requests")
    assert {(t["name"], x): y for t in requests["traces"] for x, y in zip(t["x"], t["y"], strict=True)} == \
        dict(expected)
    assert {agent.split(" / ")[0] for _, agent in expected} == {"claude-code", "codex", "cursor"}
    limits = _chart(rendered.page, "chart-ledger-rate-limits")
    assert _sums(limits) == {"claude-code": 1, "cursor": 1}


def _usage_rows(rendered: Rendered) -> list[dict[str, Any]]:
    table = rendered.html.parent / "tables" / "main" / "otel" / f"{PREFIX}_ai_gateway_usage"
    return read_table(table).to_pylist()


def test_usage_charts_match_the_usage_table_without_the_suites_probes(rendered: Rendered) -> None:
    rows = _usage_rows(rendered)
    real = [r for r in rows if SUITE_TAG not in dict(r["request_tags"] or {})
            and r["agent"] != "gateway-conformance"]
    assert len(rows) == len(real) + 2, "the probe and the suite-tagged request are in the table"
    page = rendered.page
    for key, column in (("user", "requester"), ("agent", "agent"), ("model", "endpoint_name")):
        assert _sums(_chart(page, f"chart-usage-requests-by-{key}")) == dict(
            Counter(r[column] or "(no identity)" for r in real)), key
        tokens: Counter[str] = Counter()
        for r in real:
            tokens[r[column]] += r["total_tokens"]
        assert _sums(_chart(page, f"chart-usage-tokens-by-{key}")) == dict(tokens), key
        errors = Counter(r[column] for r in real if r["status_code"] >= 400)
        assert _sums(_chart(page, f"chart-usage-errors-by-{key}")) == dict(errors), key
    assert _sums(_chart(page, "chart-usage-requests-by-user")) == {"alice": 5, "bob": 4}
    assert _sums(_chart(page, "chart-usage-errors-by-agent")) == {"claude-code": 2, "cursor": 1}
    assert page.get_attribute("#kpi-usage-requests", "data-value") == repr(float(len(real)))
    tokens_kpi = page.inner_text("#kpi-usage-tokens .v")
    assert tokens_kpi.endswith("k") or tokens_kpi.isdigit(), f"tokens shown as {tokens_kpi!r}, not k/M"
    _save(page, "usage-dashboard.png", selector="#chart-usage-requests-by-user", publish=False)


def test_matrix_rows_match_the_results_json(rendered: Rendered) -> None:
    page = rendered.page
    report = load_report(rendered.results_after)
    matrix = check_matrix(report)
    cells = page.evaluate("""() => Array.from(document.querySelectorAll('#check-matrix td.cell'))
        .map(td => [td.dataset.row, td.dataset.column, td.dataset.outcome])""")
    shown = {(row, column): outcome for row, column, outcome in cells}
    expected = {(row, column): matrix.cells[(row, column)].outcome if (row, column) in matrix.cells else "n/a"
                for row in matrix.rows for column in matrix.columns}
    assert shown == expected
    # Independently of the matrix code: every result's own outcome is in its cell's counts.
    for result in report.results:
        counts = json.loads(page.get_attribute(
            f'#check-matrix td[data-row="{result.check}"][data-column="{result.agent}"]', "data-counts"))
        assert counts.get(result.outcome, 0) >= 1
    # The evidence is one click away.
    cell = page.locator('#check-matrix td[data-row="gateway.stream.not-buffered"][data-column="claude-code"]')
    assert cell.get_attribute("data-outcome") == "fail"
    assert not cell.locator(".detail").is_visible()
    cell.locator(":scope > details > summary").click()
    assert cell.locator(".detail").is_visible()
    assert "the stream was buffered" in cell.inner_text()
    assert "first_event_ms" in cell.inner_text()
    _save(page, "matrix.png", selector="#matrix", publish=True)


def test_versions_and_upgrade_diff(rendered: Rendered) -> None:
    page = rendered.page
    versions = dict(((row, col), outcome) for row, col, outcome in page.evaluate(
        """() => Array.from(document.querySelectorAll('#version-matrix td.cell'))
            .map(td => [td.dataset.row, td.dataset.column, td.dataset.outcome])"""))
    labels = dict(((row, col), label) for row, col, label in page.evaluate(
        """() => Array.from(document.querySelectorAll('#version-matrix td.cell:not(.na)'))
            .map(td => [td.dataset.row, td.dataset.column, td.querySelector('summary').innerText.trim()])"""))
    # The documented configs known to fail say so, never "pass".
    assert labels[("codex 0.171.0", "documented")] == "fails (expected)"
    assert labels[("gemini-cli 0.61.0", "documented")] == "fails (expected)"
    assert versions[("codex 0.171.0", "generated")] == labels[("codex 0.171.0", "generated")] == "pass"
    diff = page.evaluate("""() => Array.from(document.querySelectorAll('#diff-table tbody tr'))
        .map(tr => [tr.dataset.kind, tr.dataset.agent, tr.dataset.check])""")
    assert sorted(map(tuple, diff)) == [
        ("fixes", "gemini-cli", "gemini.count-tokens.matches-usage"),
        ("regressions", "claude-code", "anthropic.headers.beta-forwarded"),
        ("regressions", "claude-code", "gateway.stream.not-buffered"),
    ]
    _save(page, "upgrade-diff.png", selector="#diff", publish=True)


def test_summary_and_the_upgrade_diff_come_first(rendered: Rendered) -> None:
    page = rendered.page
    order = page.evaluate("() => Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
    assert order[:3] == ["summary", "diff", "dashboard"], order
    assert order[3:] == ["failures", "matrix", "versions", "skips"]
    verdicts = dict(page.evaluate("""() => Array.from(document.querySelectorAll('#profile-verdicts tbody tr'))
        .map(tr => [tr.dataset.profile, tr.dataset.verdict])"""))
    expected = {v.profile: v.verdict for v in load_report(rendered.results_after).verdicts()}
    assert verdicts == expected and verdicts["claude-code"] == "not conformant"
    label = page.inner_text("#implementation-label")
    assert "acme-gateway 1.4.2" in label and "acme-gateway 1.5.0" in label
    _save(page, "summary.png", selector="#summary", publish=True)


def test_failures_are_grouped_by_requirement_and_link_it(rendered: Rendered) -> None:
    page = rendered.page
    report = load_report(rendered.results_after)
    failing = sorted({r.check for r in report.results if r.outcome in ("fail", "error")})
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('#failure-list .failure'))
        .map(d => [d.dataset.check, d.querySelector('a.req').href, d.dataset.agents])""")
    assert [check for check, _, _ in shown] == failing
    for check, href, _ in shown:
        assert href == catalogue()[check].url
    assert dict((c, a) for c, _, a in shown)["gateway.stream.not-buffered"] == "claude-code"
    # every matrix row header links its requirement too
    rows = page.evaluate("() => Array.from(document.querySelectorAll('#check-matrix tbody th a.req')).length")
    assert rows == len(check_matrix(report).rows)
    _save(page, "failures.png", selector="#failures", publish=True)


def test_skips_are_one_line_per_reason(rendered: Rendered) -> None:
    page = rendered.page
    report = load_report(rendered.results_after)
    reasons = {r.reason for r in report.results if r.outcome == "skip"}
    lines = page.evaluate("""() => Array.from(document.querySelectorAll('#skip-list > li'))
        .map(li => [+li.dataset.count, li.querySelector('summary').innerText])""")
    assert len(lines) == len(reasons) == 1
    assert lines[0][0] == 3 and "gwc_mock_only: needs the embedded mock" in lines[0][1]
    skipped_cells = page.locator("#check-matrix td.o-skip .cell-reason").count()
    assert skipped_cells == 0  # the reason is said once, not in every skipped cell


def test_no_horizontal_overflow_at_1280_px(browser: Any, rendered: Rendered) -> None:
    page, errors, _ = open_offline(browser, rendered.html, width=1280)
    try:
        for selector in ("#matrix td.cell summary", "#failures summary", "#skips summary"):
            for handle in page.locator(selector).all():
                handle.click()  # opened evidence must fit too
        width = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1] == 1280, f"the page is {width[0]} px wide in a 1280 px window"
        assert errors == []
        _save(page, "report-1280.png")
    finally:
        page.close()


def test_empty_tables_show_no_data_yet(browser: Any, tmp_path: Path) -> None:
    with start_sink(tmp_path / "tables", PREFIX, [new_token()]):
        pass  # the documented tables exist, nothing was exported
    html = tmp_path / "empty.html"
    assert cli_main(["report", "--tables-dir", str(tmp_path / "tables"), "--table-prefix", PREFIX,
                     "--out", str(html)]) == 0
    page, errors, blocked = open_offline(browser, html)
    try:
        assert errors == [] and blocked == []
        states = page.evaluate("""() => Array.from(document.querySelectorAll('figure.chart'))
            .map(f => [f.id, f.dataset.state, f.querySelector('.no-data') ? f.innerText : ''])""")
        assert len(states) == 21
        for chart_id, state, text in states:
            assert state == "empty", chart_id
            assert "No data yet" in text
        texts = {chart_id: text for chart_id, _, text in states}
        assert f"main.otel.{PREFIX}_otel_metrics is empty" in texts["chart-tokens-by-type"]
        assert f"main.otel.{PREFIX}_otel_logs is empty" in texts["chart-api-latency"]
        assert "no ledger given" in texts["chart-ledger-requests"]
        assert f"{PREFIX}_ai_gateway_usage not found" in texts["chart-usage-requests-by-user"]
        assert page.locator("svg.main-svg").count() == 0
        _save(page, "dashboard-empty.png", selector="#dashboard")
    finally:
        page.close()
