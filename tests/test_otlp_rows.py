"""The documented mapping decisions (docs/otlp-mapping.md), one concrete example each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable, write_deltalake
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from gateway_conformance.otlp.decode import JSON, PROTOBUF, DecodeError, UnsupportedMediaType, encode_json
from gateway_conformance.otlp.rows import (
    map_body,
    map_logs,
    map_metrics,
    map_protobuf,
    map_request,
    map_spans,
)
from gateway_conformance.otlp.signals import KINDS
from gateway_conformance.tables.delta import read_table
from gateway_conformance.tables.schema import arrow_schema, table_properties

LONG_MAX = (1 << 63) - 1


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def logs_with(body: AnyValue | None = None, attributes: list[KeyValue] = (), **fields: Any) -> dict[str, Any]:
    """The single row of a request holding one log record."""
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add(**fields)
    record.attributes.extend(attributes)
    if body is not None:
        record.body.CopyFrom(body)
    mapped = map_logs(request)
    assert mapped.rejected == 0 and mapped.table.num_rows == 1
    return mapped.table.to_pylist()[0]


NESTED = AnyValue(array_value=ArrayValue(values=[
    s("a"), AnyValue(int_value=1), AnyValue(double_value=1.5), AnyValue(double_value=2.0),
    AnyValue(bool_value=True), AnyValue(double_value=float("nan")), AnyValue(bytes_value=b"\x00\xff"),
    AnyValue(), s("✓"),
]))
KVLIST = AnyValue(kvlist_value=KeyValueList(values=[
    kv("k", s("v")), kv("n", AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=-1)]))),
    kv("k", AnyValue(double_value=float("-inf")))]))

ENCODINGS = [
    (s("héllo wörld"), "héllo wörld"),
    (s(""), ""),
    (AnyValue(bool_value=True), "true"),
    (AnyValue(bool_value=False), "false"),
    (AnyValue(int_value=-(1 << 63)), "-9223372036854775808"),
    (AnyValue(int_value=LONG_MAX), "9223372036854775807"),
    (AnyValue(double_value=1.0), "1.0"),
    (AnyValue(double_value=0.1), "0.1"),
    (AnyValue(double_value=1e300), "1e+300"),
    (AnyValue(double_value=-0.0), "-0.0"),
    (AnyValue(double_value=float("nan")), "NaN"),
    (AnyValue(double_value=float("inf")), "Infinity"),
    (AnyValue(double_value=float("-inf")), "-Infinity"),
    (AnyValue(bytes_value=b"\x00\xff"), "AP8="),
    (AnyValue(bytes_value=b""), ""),
    (NESTED, '["a",1,1.5,2.0,true,"NaN","AP8=",null,"✓"]'),
    (KVLIST, '{"k":"-Infinity","n":[-1]}'),
    (AnyValue(array_value=ArrayValue()), "[]"),
    (AnyValue(), None),
    (AnyValue(string_value_strindex=3), None),
]


@pytest.mark.parametrize(("value", "text"), ENCODINGS)
def test_any_value_encoding_in_attributes_and_body(value: AnyValue, text: str | None) -> None:
    row = logs_with(body=value, attributes=[kv("x", value)])
    assert row["body"] == text
    assert row["attributes"] == [("x", text)]


def test_absent_body_is_null_and_repeated_keys_keep_first_position_last_value() -> None:
    row = logs_with(attributes=[kv("a", s("1")), kv("b", s("2")), kv("a", AnyValue(int_value=3))])
    assert row["body"] is None
    assert row["attributes"] == [("a", "3"), ("b", "2")]


@pytest.mark.parametrize(("number", "text"), [
    (9, "SEVERITY_NUMBER_INFO"), (0, "SEVERITY_NUMBER_UNSPECIFIED"), (24, "SEVERITY_NUMBER_FATAL4"),
    (99, "99")])
def test_severity_number_is_the_enum_name(number: int, text: str) -> None:
    assert logs_with(severity_number=number)["severity_number"] == text


def test_log_ids_times_and_defaults() -> None:
    row = logs_with(trace_id=bytes.fromhex("5B8EFFF798038103D269B633813FC60C"),
                    span_id=bytes.fromhex("EEE19B7EC3C1B174"), time_unix_nano=0, flags=1)
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["time_unix_nano"] == 0 and row["observed_time_unix_nano"] == 0
    assert (row["event_name"], row["severity_text"], row["flags"]) == ("", "", 1)
    # An absent resource/scope reads as the empty default: never NULL.
    assert row["resource"] == {"attributes": [], "dropped_attributes_count": 0}
    assert row["instrumentation_scope"] == {"name": "", "version": "", "attributes": [],
                                            "dropped_attributes_count": 0}
    assert logs_with()["trace_id"] is None and logs_with()["span_id"] is None


def all_kinds_request() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add(schema_url="https://opentelemetry.io/schemas/1.26.0")
    resource_metrics.resource.attributes.append(kv("service.name", s("claude-code")))
    scope_metrics = resource_metrics.scope_metrics.add(schema_url="scope-url")
    scope_metrics.scope.name = "com.anthropic.claude_code"
    metrics = scope_metrics.metrics
    token = metrics.add(name="claude_code.token.usage", unit="tokens", description="Tokens used")
    token.metadata.append(kv("origin", s("sdk")))
    token.sum.aggregation_temporality = 1
    token.sum.is_monotonic = True
    token.sum.data_points.add(start_time_unix_nano=1, time_unix_nano=2, as_double=42.5,
                              attributes=[kv("type", s("input")), kv("model", s("claude-sonnet-4-5"))])
    gauge = metrics.add(name="g")
    gauge.gauge.data_points.add(time_unix_nano=3, as_int=-7)
    gauge.gauge.data_points.add(time_unix_nano=4)  # no value at all
    histogram = metrics.add(name="h")
    histogram.histogram.aggregation_temporality = 2
    histogram.histogram.data_points.add(count=3, bucket_counts=[1, 2], explicit_bounds=[10.0], min=0.0)
    exponential = metrics.add(name="e")
    exponential.exponential_histogram.aggregation_temporality = 9
    point = exponential.exponential_histogram.data_points.add(count=2, scale=3, zero_count=1, sum=4.0)
    point.positive.offset = -2
    point.positive.bucket_counts.extend([1, 1])
    exemplar = point.exemplars.add(time_unix_nano=5, as_int=3, span_id=b"\x01" * 8)
    exemplar.filtered_attributes.append(kv("user", s("u1")))
    summary = metrics.add(name="s")
    summary.summary.data_points.add(count=2, sum=3.0).quantile_values.add(quantile=0.5, value=1.5)
    metrics.add(name="no data")
    return request


def test_one_row_per_point_of_every_kind_with_the_others_null() -> None:
    mapped = map_metrics(all_kinds_request())
    rows = mapped.table.to_pylist()
    assert mapped.table.schema == arrow_schema("otel_metrics")
    assert [(row["name"], row["metric_type"]) for row in rows] == [
        ("claude_code.token.usage", "sum"), ("g", "gauge"), ("g", "gauge"), ("h", "histogram"),
        ("e", "exponential_histogram"), ("s", "summary")]
    kinds = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
    for row in rows:
        assert [kind for kind in kinds if row[kind] is not None] == [row["metric_type"]]
    token = rows[0]
    assert token["sum"] == {
        "start_time_unix_nano": 1, "time_unix_nano": 2, "value": 42.5, "exemplars": [],
        "attributes": [("type", "input"), ("model", "claude-sonnet-4-5")], "flags": 0,
        "aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA", "is_monotonic": True}
    assert (token["unit"], token["description"], token["metadata"]) == ("tokens", "Tokens used",
                                                                        [("origin", "sdk")])
    assert token["resource"]["attributes"] == [("service.name", "claude-code")]
    assert token["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert token["instrumentation_scope"]["name"] == "com.anthropic.claude_code"
    assert token["metric_schema_url"] == "scope-url"
    assert rows[1]["gauge"]["value"] == -7.0 and rows[2]["gauge"]["value"] is None
    histogram = rows[3]["histogram"]
    assert (histogram["sum"], histogram["min"], histogram["max"]) == (None, 0.0, None)  # optional: NULL
    assert histogram["bucket_counts"] == [1, 2] and histogram["explicit_bounds"] == [10.0]
    assert histogram["aggregation_temporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE"
    exponential = rows[4]["exponential_histogram"]
    assert exponential["aggregation_temporality"] == "9"  # unknown enum number: decimal text
    assert exponential["positive_bucket"] == {"offset": -2, "bucket_counts": [1, 1]}
    assert exponential["negative_bucket"] == {"offset": 0, "bucket_counts": []}  # unset: empty, not NULL
    assert exponential["exemplars"] == [{"time_unix_nano": 5, "value": 3.0, "span_id": "0101010101010101",
                                         "trace_id": None, "filtered_attributes": [("user", "u1")]}]
    assert rows[5]["summary"]["quantile_values"] == [{"quantile": 0.5, "value": 1.5}]


def test_mixed_kinds_write_to_delta_without_slices(tmp_path: Path) -> None:
    """delta-rs aborts on sliced structs holding lists/maps; the mapping's arrays are fresh."""
    table = map_metrics(all_kinds_request()).table
    for column in table.columns:
        assert all(chunk.offset == 0 for chunk in column.chunks)
    delta = DeltaTable.create(str(tmp_path), schema=arrow_schema("otel_metrics"),
                              configuration=table_properties("otel_metrics"), raise_if_key_not_exists=False)
    write_deltalake(delta, table, mode="append")
    assert read_table(tmp_path).to_pylist() == table.to_pylist()


def metric_request(kind: str, **point: Any) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric: Metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    data = getattr(metric, kind)
    data.data_points.add(time_unix_nano=1)
    data.data_points.add(**point)
    data.data_points.add(time_unix_nano=3)
    return request


@pytest.mark.parametrize(("kind", "point", "message"), [
    ("sum", {"time_unix_nano": (1 << 64) - 1},
     "time_unix_nano = 18446744073709551615 does not fit the LONG column (max 9223372036854775807)"),
    ("gauge", {"start_time_unix_nano": LONG_MAX + 1}, "start_time_unix_nano = 9223372036854775808"),
    ("gauge", {"flags": 1 << 31}, "flags = 2147483648 does not fit the INT column (max 2147483647)"),
    ("sum", {"as_int": (1 << 53) + 1},
     "value.as_int = 9007199254740993 cannot be held exactly by the DOUBLE"),
    ("histogram", {"bucket_counts": [1, 1 << 63]}, "bucket_counts[1] = 9223372036854775808"),
    ("histogram", {"count": 1 << 63}, "count = 9223372036854775808"),
    ("exponential_histogram", {"zero_count": 1 << 63}, "zero_count = 9223372036854775808"),
    ("summary", {"count": 1 << 63}, "count = 9223372036854775808"),
])
def test_unholdable_point_is_rejected_with_its_path_field_and_value(kind: str, point: dict[str, Any],
                                                                    message: str) -> None:
    mapped = map_metrics(metric_request(kind, **point))
    assert mapped.rejected == 1
    assert [row[kind]["time_unix_nano"] for row in mapped.table.to_pylist()] == [1, 3]
    assert mapped.error_message.startswith(
        "rejected 1 data points: resource_metrics[0].scope_metrics[0].metrics[0] ('m') "
        f"{kind}.data_points[1]: ")
    assert message in mapped.error_message


def test_exact_large_integers_and_exponential_bucket_overflow() -> None:
    assert map_metrics(metric_request("sum", as_int=1 << 62)).rejected == 0  # a power of two is exact
    request = metric_request("exponential_histogram")
    request.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[
        1].negative.bucket_counts.extend([0, (1 << 64) - 1])
    mapped = map_metrics(request)
    assert mapped.rejected == 1 and "negative.bucket_counts[1] = 18446744073709551615" in mapped.error_message


def test_rows_keep_request_order_and_the_first_rejection_in_request_order_is_named() -> None:
    """Points are mapped kind by kind (all of a request's sums at once, then its histograms),
    so the rows are laid back into request order and the error message still names the
    request's first rejected point, not the first one its kind's pass met."""
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    histogram = scope.metrics.add(name="first").histogram
    histogram.data_points.add(time_unix_nano=1, count=1 << 63)
    scope.metrics.add(name="second").sum.data_points.add(time_unix_nano=2, as_int=(1 << 53) + 1)
    scope.metrics.add(name="third").histogram.data_points.add(time_unix_nano=3, count=1)
    scope.metrics.add(name="fourth").sum.data_points.add(time_unix_nano=4, as_double=4.0)
    for name in ("fifth", "sixth"):  # one metric per scope, one point per metric: the spread is skipped
        request.resource_metrics[0].scope_metrics.add().metrics.add(name=name).gauge.data_points.add(
            time_unix_nano=5, as_double=5.0)
    mapped = map_metrics(request)
    assert mapped.rejected == 2
    assert mapped.error_message.startswith(
        "rejected 2 data points: resource_metrics[0].scope_metrics[0].metrics[0] ('first') "
        "histogram.data_points[0]: count = 9223372036854775808")
    assert [(row["name"], row["metric_type"]) for row in mapped.table.to_pylist()] == [
        ("third", "histogram"), ("fourth", "sum"), ("fifth", "gauge"), ("sixth", "gauge")]


def test_an_unholdable_resource_rejects_every_item_under_it_only() -> None:
    request = ExportMetricsServiceRequest()
    for dropped in (1 << 31, 0):
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.dropped_attributes_count = dropped
        metric = resource_metrics.scope_metrics.add().metrics.add(name="m")
        metric.gauge.data_points.add(as_double=1.0)
        metric.gauge.data_points.add(as_double=2.0)
    mapped = map_metrics(request)
    assert (mapped.rejected, mapped.table.num_rows) == (2, 2)
    assert "resource_metrics[0].resource.dropped_attributes_count = 2147483648" in mapped.error_message
    assert mapped.error_message.endswith("(and 1 more)")


def test_log_and_span_rejections() -> None:
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    records.add(observed_time_unix_nano=1 << 63)
    records.add(severity_number=9)
    mapped = map_logs(logs)
    assert (mapped.rejected, mapped.table.num_rows) == (1, 1)
    assert mapped.error_message == (
        "rejected 1 log records: resource_logs[0].scope_logs[0].log_records[0]: observed_time_unix_nano = "
        "9223372036854775808 does not fit the LONG column (max 9223372036854775807)")
    traces = ExportTraceServiceRequest()
    spans = traces.resource_spans.add().scope_spans.add().spans
    spans.add(name="ok")
    spans.add(name="bad").links.add(flags=1 << 31)
    mapped = map_spans(traces)
    assert (mapped.rejected, [row["name"] for row in mapped.table.to_pylist()]) == (1, ["ok"])
    assert "spans[1]: links[0].flags = 2147483648 does not fit the INT column" in mapped.error_message


def test_span_enums_ids_and_status() -> None:
    traces = ExportTraceServiceRequest()
    spans = traces.resource_spans.add().scope_spans.add().spans
    span = spans.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), kind=2, name="root")
    span.status.code = 1
    span.events.add(name="e", time_unix_nano=5, attributes=[kv("n", AnyValue(int_value=1))])
    spans.add(kind=7, parent_span_id=b"\xab" * 8)
    first, second = map_spans(traces).table.to_pylist()
    assert (first["kind"], first["status"]) == ("SPAN_KIND_SERVER", {"message": "", "code": "STATUS_CODE_OK"})
    assert first["trace_id"] == "000102030405060708090a0b0c0d0e0f" and first["parent_span_id"] is None
    assert first["events"] == [{"time_unix_nano": 5, "name": "e", "attributes": [("n", "1")],
                                "dropped_attributes_count": 0}]
    assert (second["kind"], second["status"]["code"]) == ("7", "STATUS_CODE_UNSET")
    assert second["parent_span_id"] == "abababababababab" and second["links"] == []


def test_empty_request_gives_an_empty_table_in_schema() -> None:
    for signal, request in (("metrics", ExportMetricsServiceRequest()), ("logs", ExportLogsServiceRequest()),
                            ("spans", ExportTraceServiceRequest())):
        mapped = map_request(signal, request)
        assert mapped.table.num_rows == 0 and mapped.table.schema == arrow_schema(KINDS[signal])
        assert (mapped.rejected, mapped.error_message) == (0, None)
        assert map_protobuf(signal, b"").table.num_rows == 0


def test_malformed_protobuf_is_a_decode_error_even_inside_an_attribute() -> None:
    with pytest.raises(DecodeError, match="malformed protobuf ExportMetricsServiceRequest"):
        map_protobuf("metrics", b"\x0a\x05abc")
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add(attributes=[kv("k", s("v"))])
    body = request.SerializeToString()
    broken = body.replace(b"\n\x01k\x12\x03\n\x01v", b"\n\x01k\x12\x03\n\x05v")  # string overruns
    assert broken != body
    with pytest.raises(DecodeError, match="malformed protobuf"):
        map_protobuf("logs", broken)


def test_unknown_signal() -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        map_protobuf("events", b"")  # type: ignore[arg-type]


def test_map_body_by_media_type() -> None:
    request = all_kinds_request()
    expected = map_metrics(request).table
    assert map_body("metrics", request.SerializeToString(), PROTOBUF).table.equals(expected)
    assert map_body("metrics", encode_json(request), JSON).table.equals(expected)
    with pytest.raises(UnsupportedMediaType):
        map_body("metrics", b"", "application/xml")
    with pytest.raises(DecodeError):
        map_body("metrics", b"{", JSON)
