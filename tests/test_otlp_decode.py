"""OTLP/HTTP bodies: binary protobuf and OTLP/JSON (hex ids, integer enums, lenient keys)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway_conformance.otlp import decode

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def span_json(**span: object) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def test_json_hex_ids_enums_and_64_bit_integers() -> None:
    request = decode.decode_json("spans", span_json(
        traceId=TRACE, spanId=SPAN.upper(), parentSpanId="", kind=2, startTimeUnixNano="1544712660000000000",
        endTimeUnixNano=1544712661000000000, links=[{"traceId": TRACE, "spanId": SPAN}],
        attributes=[{"key": "b", "value": {"bytesValue": "AP8="}}], someFutureField={"x": 1}))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE) and span.span_id == bytes.fromhex(SPAN)
    assert span.parent_span_id == b"" and span.kind == 2
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1544712660000000000, 1544712661000000000)
    assert span.links[0].trace_id == bytes.fromhex(TRACE)
    assert span.attributes[0].value.bytes_value == b"\x00\xff"  # AnyValue bytes stay base64


def test_json_snake_case_keys_and_log_ids() -> None:
    body = {"resource_logs": [{"scope_logs": [{"log_records": [
        {"trace_id": TRACE, "span_id": SPAN, "severity_number": 9, "body": {"string_value": "hi"}}]}]}]}
    record = decode.decode_json("logs", json.dumps(body)).resource_logs[0].scope_logs[0].log_records[0]
    assert (record.trace_id.hex(), record.span_id.hex(), record.severity_number) == (TRACE, SPAN, 9)
    assert record.body.string_value == "hi"


def test_json_exemplar_ids_are_hex_too() -> None:
    body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "sum": {"dataPoints": [
        {"asDouble": 1, "exemplars": [{"traceId": TRACE, "spanId": SPAN, "asInt": "3"}]}]}}]}]}]}
    request = decode.decode_json("metrics", json.dumps(body).encode())
    exemplar = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].exemplars[0]
    assert (exemplar.trace_id.hex(), exemplar.span_id.hex(), exemplar.as_int) == (TRACE, SPAN, 3)


@pytest.mark.parametrize("bad_id", ["AQ==", "abc", "zz" * 8, 12, " " + SPAN])
def test_bad_hex_id_is_a_clear_decode_error(bad_id: object) -> None:
    with pytest.raises(decode.DecodeError,
                       match=r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.spanId must be a hex string"):
        decode.decode_json("spans", span_json(spanId=bad_id))


@pytest.mark.parametrize(("body", "match"), [
    (b"{", "malformed OTLP/JSON ExportLogsServiceRequest"),
    (b"[]", "must be a JSON object, got list"),
    (b"\xff\xfe\x00", "malformed OTLP/JSON"),
    (b'{"resourceLogs": 3}', "resourceLogs"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}', "timeUnixNano"),
    (b"[" * 100_000, "malformed OTLP/JSON"),
])
def test_malformed_json_is_a_decode_error(body: bytes, match: str) -> None:
    with pytest.raises(decode.DecodeError, match=match):
        decode.decode_json("logs", body)


def test_protobuf_empty_body_is_an_empty_request_and_garbage_fails() -> None:
    assert decode.decode_protobuf("logs", b"") == ExportLogsServiceRequest()
    with pytest.raises(decode.DecodeError, match="malformed protobuf ExportTraceServiceRequest"):
        decode.decode_protobuf("spans", b"\x0a\xff\xff\xff")
    invalid_utf8 = b"\x0a\x07\x12\x05\x12\x03\x1a\x01\xff"  # ....spans[0].trace_state = b'\xff'
    with pytest.raises(decode.DecodeError):
        decode.decode_protobuf("spans", invalid_utf8)


def test_dispatch_by_media_type() -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="x", trace_id=bytes.fromhex(TRACE))
    for media_type in decode.MEDIA_TYPES:
        assert decode.decode("spans", decode.encode(request, media_type), media_type) == request
    with pytest.raises(decode.UnsupportedMediaType, match="text/plain"):
        decode.decode("spans", b"", "text/plain")


def test_encode_json_spells_otlp_json() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(
        trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(SPAN), kind=3,
        start_time_unix_nano=(1 << 64) - 1)
    span.attributes.add(key="k", value={"bytes_value": b"\x00"})
    document = json.loads(decode.encode_json(request))
    encoded = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert encoded["traceId"] == TRACE and encoded["spanId"] == SPAN
    assert encoded["kind"] == 3 and encoded["startTimeUnixNano"] == "18446744073709551615"
    assert encoded["attributes"][0]["value"] == {"bytesValue": "AA=="}
    assert decode.decode_json("spans", decode.encode_json(request)) == request


def test_partial_success_response_in_both_encodings() -> None:
    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = 3
    response.partial_success.error_message = "rejected 3 data points"
    assert json.loads(decode.encode(response, decode.JSON)) == {
        "partialSuccess": {"rejectedDataPoints": "3", "errorMessage": "rejected 3 data points"}}
    assert ExportMetricsServiceResponse.FromString(decode.encode(response, decode.PROTOBUF)) == response


def test_lazy_twin_keeps_attributes_and_bodies_raw() -> None:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add(severity_number=9)
    record.attributes.add(key="k", value={"string_value": "v"})
    record.body.string_value = "hello"
    lazy = decode.decode_protobuf_lazy("logs", request.SerializeToString())
    lazy_record = lazy.resource_logs[0].scope_logs[0].log_records[0]
    assert lazy_record.severity_number == 9
    assert list(lazy_record.attributes) == [record.attributes[0].SerializeToString()]
    assert lazy_record.body == record.body.SerializeToString()
    assert lazy.SerializeToString() == request.SerializeToString()
