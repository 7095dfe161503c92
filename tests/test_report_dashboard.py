"""The dashboard's reading rules without a browser: temporality, event names, table lookup, empty states.

Rows are built in the documented tables' Arrow schema (from the DDL) and, for the lookup
rules, written as real Delta tables with deltalake.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from gateway_conformance.report.dashboard import (
    LOG_COLUMNS,
    METRIC_COLUMNS,
    bucket_width,
    build_dashboard,
    events,
    load_dashboard,
    metric_points,
)
from gateway_conformance.report.sources import LedgerSource, SourceError, TableSource, read_ledger, read_table
from gateway_conformance.tables.schema import arrow_schema

S = 1_000_000_000


def _point(name: str, value: float, t: int, temporality: str, start: int = 0, **attrs: str) -> dict[str, Any]:
    return {"name": name, "metric_type": "sum", "resource": {"attributes": [("service.name", "claude-code")]},
            "sum": {"value": value, "time_unix_nano": t, "start_time_unix_nano": start,
                    "attributes": list(attrs.items()), "aggregation_temporality": temporality,
                    "is_monotonic": True}}


def _metrics(*rows: dict[str, Any]) -> TableSource:
    table = pa.Table.from_pylist(list(rows), schema=arrow_schema("otel_metrics")).select(list(METRIC_COLUMNS))
    return TableSource("metrics", "c.s.p_otel_metrics", rows=table)


def _logs(*rows: dict[str, Any]) -> TableSource:
    table = pa.Table.from_pylist(list(rows), schema=arrow_schema("otel_logs")).select(list(LOG_COLUMNS))
    return TableSource("logs", "c.s.p_otel_logs", rows=table)


CUM = "AGGREGATION_TEMPORALITY_CUMULATIVE"
DELTA = "AGGREGATION_TEMPORALITY_DELTA"


def test_cumulative_points_become_increments_per_stream() -> None:
    name = "claude_code.lines_of_code.count"
    source = _metrics(
        _point(name, 10, 1 * S, CUM, type="added"), _point(name, 15, 2 * S, CUM, type="added"),
        _point(name, 4, 3 * S, CUM, type="added"),  # a reset: the process restarted
        _point(name, 3, 2 * S, CUM, type="removed"),
        _point(name, 7, 2 * S, DELTA, type="removed"), _point(name, 1, 3 * S, DELTA, type="removed"),
        _point("claude_code.commit.count", 99, 2 * S, DELTA))
    points = metric_points(source, name)
    added = sorted((p.time_ns, p.value) for p in points if p.attributes["type"] == "added")
    assert added == [(1 * S, 10), (2 * S, 5), (3 * S, 4)]
    assert sum(p.value for p in points if p.attributes["type"] == "removed") == 3 + 7 + 1
    assert all(p.resource == {"service.name": "claude-code"} for p in points)


def test_events_are_recognised_by_any_spelling() -> None:
    base = {"time_unix_nano": S, "attributes": [("model", "m")]}
    source = _logs({**base, "event_name": "claude_code.api_request"},
                   {**base, "body": "claude_code.api_request"},
                   {**base, "attributes": [("event.name", "api_request"), ("model", "m")]},
                   {**base, "event_name": "claude_code.api_error"})
    assert len(events(source, "api_request")) == 3
    assert len(events(source, "claude_code.api_error")) == 1


def test_bucket_width_keeps_charts_under_sixty_bars() -> None:
    assert bucket_width([]) == 1
    assert bucket_width([0, S, 30 * S]) == 1  # 0: a point without a time, not the epoch
    assert bucket_width([S, 3601 * S]) == 60
    assert bucket_width([S, 40 * 86400 * S]) == 86400


def test_empty_sources_give_a_reason_per_chart() -> None:
    metrics = TableSource("metrics", "c.s.p_otel_metrics", missing="table c.s.p is empty")
    dashboard = build_dashboard(metrics, _logs(),
                                LedgerSource("ledger.json", missing="no ledger given (--ledger PATH)"))
    reasons = {chart.id: chart.empty for chart in dashboard.charts}
    assert len(reasons) == 21 and all(reasons.values())
    assert reasons["chart-tokens-by-type"] == "table c.s.p is empty"
    assert reasons["chart-api-latency"] == "no claude_code.api_request events in c.s.p_otel_logs yet"
    assert reasons["chart-ledger-requests"] == "no ledger given (--ledger PATH)"
    assert all(kpi.value is None for kpi in dashboard.kpis)


def test_ledger_without_429s_says_so() -> None:
    ledger = LedgerSource("l.json", [{"agent": "codex", "model": "m", "status": 200, "started_at": 1.0}])
    dashboard = build_dashboard(_metrics(), _logs(), ledger)
    charts = {chart.id: chart for chart in dashboard.charts}
    assert charts["chart-ledger-requests"].total == 1
    assert charts["chart-ledger-rate-limits"].empty == "no 429 rejections among the 1 records of l.json"


def _table(root: Path, catalog: str, schema: str, table: str, rows: list[dict[str, Any]]) -> None:
    rows_table = pa.Table.from_pylist(rows, schema=arrow_schema("otel_metrics"))
    write_deltalake(str(root / catalog / schema / table), rows_table)


def test_tables_are_found_or_the_choice_is_refused(tmp_path: Path) -> None:
    row = _point("claude_code.session.count", 1, S, DELTA)
    _table(tmp_path, "main", "otel", "p_otel_metrics", [row])
    found = read_table(tmp_path, "metrics", "p", METRIC_COLUMNS)
    assert (found.name, found.count, found.missing) == ("main.otel.p_otel_metrics", 1, None)
    _table(tmp_path, "dev", "otel", "p_otel_metrics", [])
    with pytest.raises(SourceError, match="choose one with --catalog and --schema"):
        read_table(tmp_path, "metrics", "p", METRIC_COLUMNS)
    dev = read_table(tmp_path, "metrics", "p", METRIC_COLUMNS, catalog="dev")
    assert dev.missing == "table dev.otel.p_otel_metrics is empty"
    absent = read_table(tmp_path, "logs", "p", LOG_COLUMNS, "main", "otel")
    assert absent.missing == f"table main.otel.p_otel_logs not found under {tmp_path}"
    dashboard = load_dashboard(tmp_path, "p", catalog="main", schema="otel")
    sessions = next(chart for chart in dashboard.charts if chart.id == "chart-sessions")
    assert (sessions.empty, sessions.total) == (None, 1.0)


@pytest.mark.parametrize(("content", "message"), [
    ("{", "the ledger is not JSON"),
    (json.dumps({"records": "x"}), "expected a list of ledger records"),
    (json.dumps([1, 2]), "expected a list of ledger records"),
])
def test_bad_ledgers_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "ledger.json"
    path.write_text(content)
    with pytest.raises(SourceError, match=message):
        read_ledger(path)


def test_ledger_shapes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps({"records": [{"status": 200}]}))
    assert read_ledger(path).records == [{"status": 200}]
    path.write_text(json.dumps([]))
    assert read_ledger(path).missing == f"ledger {path} has no records"


def _usage(*rows: dict[str, Any]) -> TableSource:
    from gateway_conformance.report.dashboard import USAGE_COLUMNS

    table = pa.Table.from_pylist(list(rows), schema=arrow_schema("ai_gateway_usage"))
    table = table.select(list(USAGE_COLUMNS))
    return TableSource("ai_gateway_usage", "c.s.p_ai_gateway_usage", rows=table)


def test_usage_charts_leave_the_suites_own_rows_out_and_fit_the_time_range() -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def row(second: int, requester: str | None, status: int, tokens: int, **extra: Any) -> dict[str, Any]:
        return {"event_time": start + timedelta(seconds=second), "requester": requester, "agent": "codex",
                "endpoint_name": "m", "status_code": status, "total_tokens": tokens,
                "api_type": "openai/responses", "request_tags": {}, **extra}

    usage = _usage(row(0, "alice", 200, 1500), row(30, "alice", 429, 0), row(59, "bob", 200, 2_500_000),
                   row(10, "alice", 200, 99, request_tags={"gateway_conformance_check": "x"}),
                   row(20, "alice", 200, 99, agent="gateway-conformance"),
                   row(25, None, 200, 0, api_type="anthropic/messages:probe"))
    suite_metric = _point("claude_code.token.usage", 7, 5 * S, DELTA, type="input")
    suite_metric["resource"] = {"attributes": [("service.name", "conformance-1234")]}
    dashboard = build_dashboard(_metrics(suite_metric), _logs(), LedgerSource("l", missing="none"), usage)
    charts = {chart.id: chart for chart in dashboard.charts}
    assert {s.name: sum(s.y) for s in charts["chart-usage-requests-by-user"].series} == {"alice": 2, "bob": 1}
    assert {s.name: sum(s.y) for s in charts["chart-usage-tokens-by-user"].series} == {
        "alice": 1500, "bob": 2_500_000}
    assert {s.name: sum(s.y) for s in charts["chart-usage-errors-by-agent"].series} == {"codex": 1}
    assert charts["chart-tokens-by-type"].empty  # only the suite's own telemetry: not usage
    assert dashboard.bucket_s <= 5 and dashboard.bucket_text in ("1 s", "5 s")  # one minute of traffic
    kpis = {kpi.id: kpi.text for kpi in dashboard.kpis}
    assert kpis["kpi-usage-tokens"] == "2.5M" and kpis["kpi-usage-users"] == "2"


def test_human_units() -> None:
    from gateway_conformance.report.dashboard import Kpi, human_count, human_duration

    durations = [human_duration(s) for s in (42.75, 750, 11_520, 400_000)]
    assert durations == ["42.8 s", "12.5 min", "3.2 h", "4.6 d"]
    assert [human_count(n) for n in (950, 8030, 1_234_567)] == ["950", "8.0k", "1.2M"]
    assert Kpi("k", "cost", 0.0488, "USD").text == "$0.0488" and Kpi("k", "x", None).text == "\u2014"
