"""The OpenTelemetry Python SDK, configured with exactly the documented headers, exports every
metric kind, logs and spans; the rows must then be in the Delta tables with the right values.

The SDK's own OTLP/HTTP exporters (``opentelemetry-exporter-otlp-proto-http``) are the
independent judge here: if the sink misread their protobuf, or answered in a shape they
refuse, the rows below would be missing or wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway_conformance.otlp.signals import Signal
from gateway_conformance.pytest_fixtures.sink import OtlpUrls
from gateway_conformance.secret import Secret
from gateway_conformance.tables.writer import TableName

pytestmark = pytest.mark.gwc_mock_only

Rows = Callable[[TableName | str], list[dict]]
Tables = dict[Signal, TableName]


def documented_headers(token: Secret, table: TableName) -> dict[str, str]:
    """The three headers of the documented ``OTEL_EXPORTER_OTLP_*_HEADERS`` value, verbatim."""
    return {"content-type": "application/x-protobuf", "Authorization": f"Bearer {token.reveal()}",
            "X-Databricks-UC-Table-Name": str(table)}


def attrs(pairs: Iterable[tuple[str, str | None]] | None) -> dict[str, str | None]:
    return dict(pairs or [])


def rows_of(delta_rows: Rows, table: TableName, service: str) -> list[dict]:
    return [row for row in delta_rows(table)
            if attrs(row["resource"]["attributes"]).get("service.name") == service]


@pytest.fixture
def service() -> str:
    """A service name of this test alone: the session's tables are shared."""
    return f"conformance-{uuid.uuid4().hex[:12]}"


def exporter_args(otlp_urls: OtlpUrls, otlp_token: Secret, otlp_tables: Tables, signal: Signal) -> dict:
    return {"endpoint": otlp_urls.for_signal(signal),
            "headers": documented_headers(otlp_token, otlp_tables[signal])}


@pytest.mark.gwc_check("otlp.tables.metrics-rows")
def test_sdk_metrics_of_every_kind_land_in_the_metrics_table(gwc_otlp_urls: OtlpUrls, gwc_otlp_token: Secret,
                                                             gwc_otlp_tables: Tables, gwc_delta_rows: Rows,
                                                             service: str) -> None:
    exporter = OTLPMetricExporter(**exporter_args(gwc_otlp_urls, gwc_otlp_token, gwc_otlp_tables, "metrics"))
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    exponential = View(instrument_name="conf.payload.size",
                       aggregation=ExponentialBucketHistogramAggregation())
    provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader],
                             views=[exponential])
    meter = provider.get_meter("com.example.conformance", "1.2.3")

    meter.create_counter("conf.requests", unit="1", description="requests").add(5, {"route": "/v1/messages"})
    updown = meter.create_up_down_counter("conf.active_sessions")
    updown.add(3)
    updown.add(-1)

    def temperature(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(42.5, {"room": "lab"})

    meter.create_observable_gauge("conf.temperature", callbacks=[temperature], unit="Cel")
    latency = meter.create_histogram("conf.latency", unit="ms")
    for value in (1, 5, 100):
        latency.record(value)
    payload = meter.create_histogram("conf.payload.size", unit="By")
    for value in (0.5, 3, 3, 1000):
        payload.record(value)
    assert provider.force_flush(10_000)
    provider.shutdown()

    rows = {row["name"]: row for row in rows_of(gwc_delta_rows, gwc_otlp_tables["metrics"], service)}
    assert set(rows) == {"conf.requests", "conf.active_sessions", "conf.temperature", "conf.latency",
                         "conf.payload.size"}
    kinds = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
    for row in rows.values():  # one kind per row, the other four structs NULL
        assert [kind for kind in kinds if row[kind] is not None] == [row["metric_type"]]
        assert row["instrumentation_scope"]["name"] == "com.example.conformance"
        assert row["instrumentation_scope"]["version"] == "1.2.3"

    counter = rows["conf.requests"]
    assert counter["metric_type"] == "sum"
    assert (counter["unit"], counter["description"]) == ("1", "requests")
    assert counter["sum"]["value"] == 5
    assert counter["sum"]["is_monotonic"] is True
    assert counter["sum"]["aggregation_temporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE"
    assert attrs(counter["sum"]["attributes"]) == {"route": "/v1/messages"}
    assert counter["sum"]["time_unix_nano"] >= counter["sum"]["start_time_unix_nano"] > 0

    updown_row = rows["conf.active_sessions"]
    assert (updown_row["metric_type"], updown_row["sum"]["value"]) == ("sum", 2)
    assert updown_row["sum"]["is_monotonic"] is False

    gauge = rows["conf.temperature"]
    assert (gauge["metric_type"], gauge["gauge"]["value"], gauge["unit"]) == ("gauge", 42.5, "Cel")
    assert attrs(gauge["gauge"]["attributes"]) == {"room": "lab"}

    histogram = rows["conf.latency"]["histogram"]
    assert rows["conf.latency"]["metric_type"] == "histogram"
    assert (histogram["count"], histogram["sum"], histogram["min"], histogram["max"]) == (3, 106, 1, 100)
    assert len(histogram["bucket_counts"]) == len(histogram["explicit_bounds"]) + 1
    bounds = histogram["explicit_bounds"]
    assert histogram["bucket_counts"][bounds.index(5)] == 2  # 1 and 5 fall in (0, 5]
    assert histogram["bucket_counts"][bounds.index(100)] == 1  # 100 falls in (75, 100]
    assert sum(histogram["bucket_counts"]) == 3

    exponential = rows["conf.payload.size"]["exponential_histogram"]
    assert rows["conf.payload.size"]["metric_type"] == "exponential_histogram"
    assert (exponential["count"], exponential["sum"]) == (4, 1006.5)
    assert (exponential["min"], exponential["max"], exponential["zero_count"]) == (0.5, 1000, 0)
    assert sum(exponential["positive_bucket"]["bucket_counts"]) == 4
    assert isinstance(exponential["scale"], int)
    assert exponential["aggregation_temporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE"


@pytest.mark.gwc_check("otlp.tables.logs-and-spans-rows")
def test_sdk_logs_and_spans_land_in_their_tables(gwc_otlp_urls: OtlpUrls, gwc_otlp_token: Secret,
                                                 gwc_otlp_tables: Tables,
                                                 gwc_delta_rows: Rows, service: str) -> None:
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(**exporter_args(gwc_otlp_urls, gwc_otlp_token, gwc_otlp_tables, "spans"))))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        **exporter_args(gwc_otlp_urls, gwc_otlp_token, gwc_otlp_tables,
                        "logs"), compression=Compression.Gzip)))
    tracer = tracer_provider.get_tracer("com.example.conformance")
    logger = logger_provider.get_logger("com.example.conformance")

    with (tracer.start_as_current_span("conf.turn", kind=SpanKind.SERVER,
                                       attributes={"gen_ai.request.model": "claude-x"}) as parent,
          tracer.start_as_current_span("conf.tool") as child):
        child.add_event("tool.started", {"tool": "Bash"})
        child.set_status(Status(StatusCode.ERROR, "exit 2"))
        logger.emit(severity_number=SeverityNumber.WARN, severity_text="WARN", body="tool failed",
                    attributes={"tool": "Bash", "exit_code": 2}, event_name="conf.tool_result")
    assert tracer_provider.force_flush(10_000) and logger_provider.force_flush(10_000)
    tracer_provider.shutdown()
    logger_provider.shutdown()

    trace_id = format(parent.get_span_context().trace_id, "032x")
    parent_id = format(parent.get_span_context().span_id, "016x")
    child_id = format(child.get_span_context().span_id, "016x")
    spans = {row["name"]: row for row in rows_of(gwc_delta_rows, gwc_otlp_tables["spans"], service)}
    assert set(spans) == {"conf.turn", "conf.tool"}
    turn, tool = spans["conf.turn"], spans["conf.tool"]
    assert (turn["trace_id"], turn["span_id"], turn["parent_span_id"]) == (trace_id, parent_id, None)
    assert (tool["trace_id"], tool["span_id"], tool["parent_span_id"]) == (trace_id, child_id, parent_id)
    assert turn["kind"] == "SPAN_KIND_SERVER" and tool["kind"] == "SPAN_KIND_INTERNAL"
    assert attrs(turn["attributes"]) == {"gen_ai.request.model": "claude-x"}
    assert tool["status"] == {"code": "STATUS_CODE_ERROR", "message": "exit 2"}
    assert [(event["name"], attrs(event["attributes"])) for event in tool["events"]] == [
        ("tool.started", {"tool": "Bash"})]
    assert tool["end_time_unix_nano"] >= tool["start_time_unix_nano"] > 0

    logs = rows_of(gwc_delta_rows, gwc_otlp_tables["logs"], service)
    assert len(logs) == 1
    log = logs[0]
    assert (log["body"], log["severity_text"], log["severity_number"]) == (
        "tool failed", "WARN", "SEVERITY_NUMBER_WARN")
    assert (log["trace_id"], log["span_id"]) == (trace_id, child_id)
    assert attrs(log["attributes"]) == {"tool": "Bash", "exit_code": "2"}
    assert log["event_name"] == "conf.tool_result"
