"""The OTLP/HTTP endpoint of any target (``--workspace-url``, else the embedded sink), judged
by the OpenTelemetry protocol rules of SPEC section 4, per signal:

- a valid protobuf export: 200, ``application/x-protobuf``, an ``Export*ServiceResponse``
  without rejections; the same export gzip-compressed: the same;
- an empty export request: 200 (the spec says an empty request succeeds);
- an OTLP/JSON export (hex ids, integer enums, 64-bit integers as strings): 200 in JSON;
- a protobuf body that is not an export, and JSON that is not JSON: 400 carrying a
  ``google.rpc.Status`` in the request's media type.

Requests are built from the official ``opentelemetry-proto`` messages and hand-written
OTLP/JSON, never from this project's own encoder, so the sink cannot agree with itself.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from typing import Any

import pytest
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_DELTA,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from gateway_conformance.otlp.signals import Signal
from gateway_conformance.pytest_fixtures.sink import OtlpUrls
from gateway_conformance.remote import Answer, RemoteClient
from gateway_conformance.secret import Secret
from gateway_conformance.tables.writer import TableName
from gateway_conformance.target import Target

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SIGNALS: list[Signal] = ["metrics", "logs", "spans"]
RESPONSES: dict[Signal, type[Message]] = {
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
    "spans": trace_service_pb2.ExportTraceServiceResponse,
}
REJECTED = {"metrics": "rejected_data_points", "logs": "rejected_log_records", "spans": "rejected_spans"}


def _resource(service: str) -> Resource:
    return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])


def export_request(signal: Signal, service: str) -> Message:
    """One small, valid export of the signal, the way Claude Code's exporter shapes it."""
    now = time.time_ns()
    if signal == "metrics":
        point = NumberDataPoint(as_int=3, start_time_unix_nano=now - 10**9, time_unix_nano=now,
                                attributes=[KeyValue(key="type", value=AnyValue(string_value="input"))])
        metric = Metric(name="claude_code.token.usage", unit="tokens", sum=Sum(
            data_points=[point], aggregation_temporality=AGGREGATION_TEMPORALITY_DELTA, is_monotonic=True))
        return metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
            resource=_resource(service), scope_metrics=[ScopeMetrics(metrics=[metric])])])
    if signal == "logs":
        record = LogRecord(time_unix_nano=now, observed_time_unix_nano=now, severity_number=9,
                           body=AnyValue(string_value="claude_code.user_prompt"))
        return logs_service_pb2.ExportLogsServiceRequest(resource_logs=[ResourceLogs(
            resource=_resource(service), scope_logs=[ScopeLogs(log_records=[record])])])
    span = Span(trace_id=uuid.uuid4().bytes, span_id=uuid.uuid4().bytes[:8], name="conformance",
                kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now - 10**6, end_time_unix_nano=now)
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=_resource(service), scope_spans=[ScopeSpans(spans=[span])])])


def json_export(signal: Signal, service: str) -> dict[str, Any]:
    """OTLP/JSON written by hand: lowerCamelCase, hex ids, integer enums, int64 as strings."""
    now = str(time.time_ns())
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    if signal == "metrics":
        point = {"asInt": "3", "startTimeUnixNano": now, "timeUnixNano": now}
        metric = {"name": "claude_code.session.count", "sum": {"dataPoints": [point], "isMonotonic": True,
                                                              "aggregationTemporality": 1}}
        return {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": [metric]}]}]}
    if signal == "logs":
        record = {"timeUnixNano": now, "severityNumber": 9,
                  "body": {"stringValue": "claude_code.api_request"}}
        return {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}
    span = {"traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16], "name": "conformance", "kind": 3,
            "startTimeUnixNano": now, "endTimeUnixNano": now}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}


@pytest.fixture(params=SIGNALS)
def signal(request: pytest.FixtureRequest) -> Signal:
    return request.param


@pytest.fixture(scope="module")
def otlp(gwc_otlp_urls: OtlpUrls, gwc_otlp_token: Secret, gwc_target: Target) -> Any:
    with RemoteClient(gwc_otlp_urls.workspace_url, gwc_otlp_token, timeouts=gwc_target.timeouts) as client:
        yield client


@pytest.fixture
def post(otlp: RemoteClient, gwc_otlp_urls: OtlpUrls, gwc_otlp_tables: dict[Signal, TableName],
         signal: Signal) -> Any:
    path = gwc_otlp_urls.for_signal(signal).removeprefix(gwc_otlp_urls.workspace_url)

    def send(body: bytes, media_type: str, **headers: str) -> Answer:
        return otlp.request("POST", path, content=body, headers={
            "content-type": media_type, "x-databricks-uc-table-name": str(gwc_otlp_tables[signal]),
            **headers})
    return send


@pytest.fixture
def service() -> str:
    return f"conformance-{uuid.uuid4().hex[:12]}"


def _decode(answer: Answer, media_type: str, message: type[Message]) -> Any:
    """The body as ``message`` (protobuf) or a JSON object, or a failure saying it is neither."""
    if media_type == PROTOBUF:
        try:
            return message.FromString(answer.content)
        except DecodeError:
            answer.require(False, f"a protobuf {message.__name__} body")
    try:
        body = json.loads(answer.content or b"{}")
    except ValueError:
        body = None
    answer.require(isinstance(body, dict), f"a JSON object body ({message.__name__} in OTLP/JSON)")
    return body


def _media(answer: Answer) -> str:
    return answer.response.content_type.split(";")[0].strip()


def assert_accepted(answer: Answer, signal: Signal, media_type: str) -> None:
    """OTLP/HTTP (SPEC section 4): 200, answered in the request's media type, nothing rejected."""
    answer.require(answer.status == 200, f"200 for a valid {signal} export")
    answer.require(_media(answer) == media_type, f"the answer in the request's media type {media_type}")
    body = _decode(answer, media_type, RESPONSES[signal])
    if media_type == PROTOBUF:
        rejected = getattr(body.partial_success, REJECTED[signal])
        answer.require(not rejected, f"no {REJECTED[signal]} ({body.partial_success.error_message})")
    else:
        partial = body.get("partialSuccess") or {}
        rejected = partial.get(_camel(REJECTED[signal]), 0) if isinstance(partial, dict) else 0
        answer.require(not int(rejected or 0), f"no {_camel(REJECTED[signal])}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def assert_status_error(answer: Answer, status: int, media_type: str) -> None:
    """OTLP/HTTP (SPEC section 4): a bad export gets ``status`` with a google.rpc.Status."""
    answer.require(answer.status == status, f"{status} for a body that is not an export")
    answer.require(_media(answer) == media_type, f"the error in the request's media type {media_type}")
    body = _decode(answer, media_type, status_pb2.Status)
    code, message = ((body.code, body.message) if media_type == PROTOBUF
                     else (body.get("code"), body.get("message")))
    answer.require(code == code_pb2.INVALID_ARGUMENT,
                   f"google.rpc.Status code INVALID_ARGUMENT (3), got {code}")
    answer.require(message, "a google.rpc.Status with a message")


@pytest.mark.gwc_check("otlp.http.protobuf-export")
def test_protobuf_export(post: Any, signal: Signal, service: str) -> None:
    assert_accepted(post(export_request(signal, service).SerializeToString(), PROTOBUF), signal, PROTOBUF)


@pytest.mark.gwc_check("otlp.http.gzip")
def test_gzip_export(post: Any, signal: Signal, service: str) -> None:
    body = gzip.compress(export_request(signal, service).SerializeToString())
    assert_accepted(post(body, PROTOBUF, **{"content-encoding": "gzip"}), signal, PROTOBUF)


@pytest.mark.gwc_check("otlp.http.empty-request")
def test_empty_export(post: Any, signal: Signal) -> None:
    assert_accepted(post(b"", PROTOBUF), signal, PROTOBUF)


@pytest.mark.gwc_check("otlp.http.json-export")
def test_json_export(post: Any, signal: Signal, service: str) -> None:
    assert_accepted(post(json.dumps(json_export(signal, service)).encode(), JSON), signal, JSON)


@pytest.mark.gwc_check("otlp.http.bad-protobuf-400")
def test_invalid_protobuf_is_400(post: Any) -> None:
    assert_status_error(post(b"\xff\xff\xff not an export", PROTOBUF), 400, PROTOBUF)


@pytest.mark.gwc_check("otlp.http.bad-json-400")
def test_invalid_json_is_400(post: Any) -> None:
    assert_status_error(post(b'{"resourceMetrics": [', JSON), 400, JSON)
