"""Properties of the OTLP -> Delta mapping, over requests from the public strategies.

The property bodies are plain functions (``check_*``) so another engine can rerun them:
the Spark engine passes its own ``write_and_read(table) -> table`` to
:func:`check_round_trip` (``from test_otlp_properties import check_round_trip`` works
from any test module in this folder).

The expected values are computed here from the input messages with an independent
reading of docs/otlp-mapping.md (decoding each column back and comparing it with the
input), not by calling the mapping's own encoders.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway_conformance.otlp import strategies as otlp_st
from gateway_conformance.otlp.decode import decode_json, encode_json
from gateway_conformance.otlp.rows import MappedRows, map_protobuf, map_request
from gateway_conformance.otlp.signals import KINDS, Signal
from gateway_conformance.tables.delta import read_table
from gateway_conformance.tables.schema import arrow_schema, table_properties

LONG_MAX = (1 << 63) - 1
INT_MAX = (1 << 31) - 1
WriteAndRead = Callable[[pa.Table], pa.Table]

STRATEGIES = {
    "metrics": otlp_st.export_metrics_requests,
    "logs": otlp_st.export_logs_requests,
    "spans": otlp_st.export_trace_requests,
}
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DELTA = settings(max_examples=15, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------
# Independent oracles: the documented encodings read backwards.


def same_double(actual: Any, expected: float) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return actual == expected and math.copysign(1, actual) == math.copysign(1, expected)


def enum_spelling(enum: Any, number: int) -> str:
    try:
        return enum.Name(number)
    except ValueError:
        return str(number)


def expected_id(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def _last_wins(pairs: Any) -> dict[str, AnyValue]:
    found: dict[str, AnyValue] = {}
    for pair in pairs:
        found[pair.key] = pair.value
    return found


def json_matches(decoded: Any, value: AnyValue) -> bool:
    """Does JSON ``decoded`` spell ``value`` as documented (array/kvlist elements)?"""
    kind = value.WhichOneof("value")
    if kind in (None, "string_value_strindex"):
        return decoded is None
    if kind == "string_value":
        return decoded == value.string_value
    if kind == "bool_value":
        return decoded is value.bool_value
    if kind == "int_value":
        return type(decoded) is int and decoded == value.int_value
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return type(decoded) is float and same_double(decoded, number)
        return decoded == ("NaN" if math.isnan(number) else "Infinity" if number > 0 else "-Infinity")
    if kind == "bytes_value":
        return isinstance(decoded, str) and base64.b64decode(decoded, validate=True) == value.bytes_value
    if kind == "array_value":
        items = value.array_value.values
        return (isinstance(decoded, list) and len(decoded) == len(items)
                and all(json_matches(d, v) for d, v in zip(decoded, items, strict=True)))
    expected = _last_wins(value.kvlist_value.values)
    return (isinstance(decoded, dict) and list(decoded) == list(expected)
            and all(json_matches(decoded[key], item) for key, item in expected.items()))


def text_matches(text: str | None, value: AnyValue) -> bool:
    """Does STRING ``text`` spell ``value`` as documented (attribute values, log bodies)?"""
    try:
        return _text_matches(text, value)
    except ValueError:  # not even parseable as the documented spelling (JSONDecodeError too)
        return False


def _text_matches(text: str | None, value: AnyValue) -> bool:
    kind = value.WhichOneof("value")
    if kind in (None, "string_value_strindex"):
        return text is None
    if text is None:
        return False
    if kind == "string_value":
        return text == value.string_value
    if kind == "bool_value":
        return text == ("true" if value.bool_value else "false")
    if kind == "int_value":
        return text == str(int(text)) and int(text) == value.int_value
    if kind == "double_value":
        number = value.double_value
        if math.isnan(number):
            return text == "NaN"
        if math.isinf(number):
            return text == ("Infinity" if number > 0 else "-Infinity")
        return same_double(float(text), number) and text == repr(float(text))
    if kind == "bytes_value":
        return base64.b64decode(text, validate=True) == value.bytes_value
    decoded = json.loads(text)
    compact = json.dumps(decoded, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text == compact and json_matches(decoded, value)


def assert_map(actual: list[tuple[str, str | None]], pairs: Any, where: str) -> None:
    expected = _last_wins(pairs)
    assert [key for key, _ in actual] == list(expected), f"{where}: keys (first position, no repeats)"
    for key, text in actual:
        assert text_matches(text, expected[key]), f"{where}[{key!r}]: {text!r} vs {expected[key]}"


def assert_context(row: dict[str, Any], resource: Any, resource_url: str, scope: Any, scope_url: str,
                   url_column: str) -> None:
    assert_map(row["resource"]["attributes"], resource.attributes, "resource.attributes")
    assert row["resource"]["dropped_attributes_count"] == resource.dropped_attributes_count
    assert row["resource_schema_url"] == resource_url
    scope_row = row["instrumentation_scope"]
    assert (scope_row["name"], scope_row["version"]) == (scope.name, scope.version)
    assert_map(scope_row["attributes"], scope.attributes, "instrumentation_scope.attributes")
    assert scope_row["dropped_attributes_count"] == scope.dropped_attributes_count
    assert row[url_column] == scope_url


# ---------------------------------------------------------------------------------------------
# What fits the columns: the reason a data point, record or span may be rejected.


def _exact_double(holder: Any) -> bool:
    return holder.WhichOneof("value") != "as_int" or float(holder.as_int) == holder.as_int


def _fits(message: Any, longs: tuple[str, ...] = (), ints: tuple[str, ...] = ()) -> bool:
    return (all(getattr(message, f) <= LONG_MAX for f in longs)
            and all(getattr(message, f) <= INT_MAX for f in ints))


def point_fits(point: Any, kind: str) -> bool:
    ok = _fits(point, ("start_time_unix_nano", "time_unix_nano"), ("flags",))
    if kind != "summary":
        ok = ok and all(_fits(e, ("time_unix_nano",)) and _exact_double(e) for e in point.exemplars)
    if kind in ("gauge", "sum"):
        return ok and _exact_double(point)
    ok = ok and point.count <= LONG_MAX
    if kind == "histogram":
        return ok and all(c <= LONG_MAX for c in point.bucket_counts)
    if kind == "exponential_histogram":
        return ok and point.zero_count <= LONG_MAX and all(
            c <= LONG_MAX for c in [*point.positive.bucket_counts, *point.negative.bucket_counts])
    return ok


def record_fits(record: Any) -> bool:
    return _fits(record, ("time_unix_nano", "observed_time_unix_nano"), ("dropped_attributes_count", "flags"))


def span_fits(span: Any) -> bool:
    return (_fits(span, ("start_time_unix_nano", "end_time_unix_nano"),
                  ("flags", "dropped_attributes_count", "dropped_events_count", "dropped_links_count"))
            and all(_fits(e, ("time_unix_nano",), ("dropped_attributes_count",)) for e in span.events)
            and all(_fits(link, (), ("dropped_attributes_count", "flags")) for link in span.links))


def items(signal: Signal, request: Message) -> Iterator[tuple[bool, tuple[Any, ...]]]:
    """Every data point / record / span with its context, and whether it fits the columns."""
    resources, scopes, leaf = {"metrics": ("resource_metrics", "scope_metrics", "metrics"),
                               "logs": ("resource_logs", "scope_logs", "log_records"),
                               "spans": ("resource_spans", "scope_spans", "spans")}[signal]
    for resource_item in getattr(request, resources):
        resource = resource_item.resource
        for scope_item in getattr(resource_item, scopes):
            scope = scope_item.scope
            context_fits = _fits(resource, (), ("dropped_attributes_count",)) and _fits(
                scope, (), ("dropped_attributes_count",))
            context = (resource, resource_item.schema_url, scope, scope_item.schema_url)
            for entry in getattr(scope_item, leaf):
                if signal == "metrics":
                    kind = entry.WhichOneof("data")
                    for point in getattr(entry, kind).data_points if kind else ():
                        yield context_fits and point_fits(point, kind), (*context, entry, kind, point)
                elif signal == "logs":
                    yield context_fits and record_fits(entry), (*context, entry)
                else:
                    yield context_fits and span_fits(entry), (*context, entry)


# ---------------------------------------------------------------------------------------------
# Per-row checks against the input


def assert_exemplars(actual: list[dict[str, Any]], exemplars: Any) -> None:
    assert len(actual) == len(exemplars)
    for row, exemplar in zip(actual, exemplars, strict=True):
        assert row["time_unix_nano"] == exemplar.time_unix_nano
        assert_number(row["value"], exemplar)
        assert row["span_id"] == expected_id(exemplar.span_id)
        assert row["trace_id"] == expected_id(exemplar.trace_id)
        assert_map(row["filtered_attributes"], exemplar.filtered_attributes, "exemplar")


def assert_number(actual: float | None, holder: Any) -> None:
    kind = holder.WhichOneof("value")
    if kind is None:
        assert actual is None
    else:
        assert same_double(actual, float(getattr(holder, kind)))


def _optional(point: Any, field: str) -> float | None:
    return getattr(point, field) if point.HasField(field) else None


def assert_metric_row(row: dict[str, Any], context: tuple[Any, ...]) -> None:
    resource, resource_url, scope, scope_url, metric, kind, point = context
    assert (row["name"], row["description"], row["unit"]) == (metric.name, metric.description, metric.unit)
    assert row["metric_type"] == kind
    for other in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
        assert (row[other] is None) == (other != kind), other
    assert_map(row["metadata"], metric.metadata, "metadata")
    assert_context(row, resource, resource_url, scope, scope_url, "metric_schema_url")
    cell = row[kind]
    data = getattr(metric, kind)
    assert cell["start_time_unix_nano"] == point.start_time_unix_nano
    assert cell["time_unix_nano"] == point.time_unix_nano
    assert cell["flags"] == point.flags
    assert_map(cell["attributes"], point.attributes, f"{kind}.attributes")
    if kind != "summary":
        assert_exemplars(cell["exemplars"], point.exemplars)
    if kind in ("sum", "histogram", "exponential_histogram"):
        assert cell["aggregation_temporality"] == enum_spelling(AggregationTemporality,
                                                                data.aggregation_temporality)
    if kind in ("gauge", "sum"):
        assert_number(cell["value"], point)
        if kind == "sum":
            assert cell["is_monotonic"] is data.is_monotonic
        return
    assert cell["count"] == point.count
    if kind == "summary":
        assert same_double(cell["sum"], point.sum)
        assert len(cell["quantile_values"]) == len(point.quantile_values)
        for actual, quantile in zip(cell["quantile_values"], point.quantile_values, strict=True):
            assert same_double(actual["quantile"], quantile.quantile)
            assert same_double(actual["value"], quantile.value)
        return
    for field in ("sum", "min", "max"):
        expected = _optional(point, field)
        assert cell[field] is None if expected is None else same_double(cell[field], expected), field
    if kind == "histogram":
        assert cell["bucket_counts"] == list(point.bucket_counts)
        assert all(same_double(a, b) for a, b in zip(cell["explicit_bounds"], point.explicit_bounds,
                                                         strict=True))
        return
    assert (cell["scale"], cell["zero_count"]) == (point.scale, point.zero_count)
    assert same_double(cell["zero_threshold"], point.zero_threshold)
    for side in ("positive", "negative"):
        buckets = getattr(point, side)
        assert cell[f"{side}_bucket"] == {"offset": buckets.offset,
                                          "bucket_counts": list(buckets.bucket_counts)}


def assert_log_row(row: dict[str, Any], context: tuple[Any, ...]) -> None:
    resource, resource_url, scope, scope_url, record = context
    assert row["event_name"] == record.event_name
    assert row["trace_id"] == expected_id(record.trace_id)
    assert row["span_id"] == expected_id(record.span_id)
    assert row["time_unix_nano"] == record.time_unix_nano
    assert row["observed_time_unix_nano"] == record.observed_time_unix_nano
    assert row["severity_number"] == enum_spelling(SeverityNumber, record.severity_number)
    assert row["severity_text"] == record.severity_text
    assert text_matches(row["body"], record.body), (row["body"], record.body)
    assert_map(row["attributes"], record.attributes, "attributes")
    assert row["dropped_attributes_count"] == record.dropped_attributes_count
    assert row["flags"] == record.flags
    assert_context(row, resource, resource_url, scope, scope_url, "log_schema_url")


def assert_span_row(row: dict[str, Any], context: tuple[Any, ...]) -> None:
    resource, resource_url, scope, scope_url, span = context
    assert row["trace_id"] == expected_id(span.trace_id)
    assert row["span_id"] == expected_id(span.span_id)
    assert row["parent_span_id"] == expected_id(span.parent_span_id)
    assert (row["trace_state"], row["name"], row["flags"]) == (span.trace_state, span.name, span.flags)
    assert row["kind"] == enum_spelling(Span.SpanKind, span.kind)
    assert (row["start_time_unix_nano"], row["end_time_unix_nano"]) == (
        span.start_time_unix_nano, span.end_time_unix_nano)
    assert_map(row["attributes"], span.attributes, "attributes")
    assert (row["dropped_attributes_count"], row["dropped_events_count"], row["dropped_links_count"]) == (
        span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count)
    assert len(row["events"]) == len(span.events)
    for actual, event in zip(row["events"], span.events, strict=True):
        assert (actual["time_unix_nano"], actual["name"]) == (event.time_unix_nano, event.name)
        assert actual["dropped_attributes_count"] == event.dropped_attributes_count
        assert_map(actual["attributes"], event.attributes, "events.attributes")
    assert len(row["links"]) == len(span.links)
    for actual, link in zip(row["links"], span.links, strict=True):
        assert actual["trace_id"] == expected_id(link.trace_id)
        assert actual["span_id"] == expected_id(link.span_id)
        assert (actual["trace_state"], actual["flags"]) == (link.trace_state, link.flags)
        assert actual["dropped_attributes_count"] == link.dropped_attributes_count
        assert_map(actual["attributes"], link.attributes, "links.attributes")
    assert row["status"] == {"message": span.status.message,
                             "code": enum_spelling(Status.StatusCode, span.status.code)}
    assert_context(row, resource, resource_url, scope, scope_url, "span_schema_url")


ROW_CHECKS = {"metrics": assert_metric_row, "logs": assert_log_row, "spans": assert_span_row}


def canonical(value: Any) -> Any:
    """Rows with NaN made comparable (NaN != NaN) and -0.0 told apart from 0.0."""
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# The property bodies (plain functions: reusable with another engine)


def check_mapping(signal: Signal, request: Message) -> MappedRows:
    """Schema exact, one row per accepted item, rejections counted and explained, and
    every column holding the documented encoding of its input value."""
    mapped = map_request(signal, request)
    table = mapped.table
    assert table.schema == arrow_schema(KINDS[signal])
    assert table.schema.metadata is None
    for column in table.columns:
        assert column.num_chunks <= 1 and all(chunk.offset == 0 for chunk in column.chunks), "sliced"
    listed = list(items(signal, request))
    fitting = [context for fits, context in listed if fits]
    assert table.num_rows == len(fitting)
    assert mapped.rejected == len(listed) - len(fitting)
    assert (mapped.error_message is None) == (mapped.rejected == 0)
    if mapped.rejected:
        assert f"rejected {mapped.rejected} " in mapped.error_message
        assert "does not fit" in mapped.error_message or "cannot be held exactly" in mapped.error_message
    for row, context in zip(table.to_pylist(), fitting, strict=True):
        ROW_CHECKS[signal](row, context)
    return mapped


def check_json_equivalence(signal: Signal, request: Message) -> None:
    """The protobuf and the OTLP/JSON encodings of one request give identical rows."""
    from_protobuf = map_protobuf(signal, request.SerializeToString())
    from_json = map_request(signal, decode_json(signal, encode_json(request)))
    assert canonical(from_json.table.to_pylist()) == canonical(from_protobuf.table.to_pylist())
    assert from_json.rejected == from_protobuf.rejected
    assert from_json.error_message == from_protobuf.error_message


def check_round_trip(signal: Signal, request: Message, write_and_read: WriteAndRead) -> None:
    """Rows read back from a real Delta table equal the rows written."""
    written = map_request(signal, request).table
    read = write_and_read(written)
    assert read.schema == arrow_schema(KINDS[signal])
    assert canonical(read.to_pylist()) == canonical(written.to_pylist())


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("signal", ["metrics", "logs", "spans"])
def test_rows_match_schema_counts_and_encodings(signal: Signal) -> None:
    @FAST
    @given(STRATEGIES[signal]())
    def prop(request: Message) -> None:
        mapped = check_mapping(signal, request)
        assert mapped.rejected == 0

    prop()


@pytest.mark.parametrize("signal", ["metrics", "logs", "spans"])
def test_out_of_range_values_are_rejected_and_counted(signal: Signal) -> None:
    seen = {"rejected": 0, "rows": 0}

    @FAST
    @given(STRATEGIES[signal](out_of_range=True))
    def prop(request: Message) -> None:
        mapped = check_mapping(signal, request)
        seen["rejected"] += mapped.rejected
        seen["rows"] += mapped.table.num_rows

    prop()
    assert seen["rejected"] and seen["rows"], f"strategy did not mix accepted and rejected items: {seen}"


@pytest.mark.parametrize("signal", ["metrics", "logs", "spans"])
def test_protobuf_and_json_give_identical_rows(signal: Signal) -> None:
    @FAST
    @given(STRATEGIES[signal](out_of_range=True))
    def prop(request: Message) -> None:
        check_json_equivalence(signal, request)

    prop()


def delta_write_and_read(root: Path, signal: Signal) -> WriteAndRead:
    """Write into a fresh real Delta table created from the DDL-derived schema; read it all."""
    def write_and_read(table: pa.Table) -> pa.Table:
        path = str(root / uuid.uuid4().hex)
        kind = KINDS[signal]
        delta = DeltaTable.create(path, schema=arrow_schema(kind), configuration=table_properties(kind),
                                  raise_if_key_not_exists=False)
        write_deltalake(delta, table, mode="append")
        read = DeltaTable(path)
        assert read.metadata().configuration == {"otel.schemaVersion": "v1"}
        return read_table(path)
    return write_and_read


@pytest.mark.parametrize("signal", ["metrics", "logs", "spans"])
def test_rows_read_back_from_delta_equal_rows_written(signal: Signal, tmp_path: Path) -> None:
    write_and_read = delta_write_and_read(tmp_path, signal)

    @DELTA
    @given(STRATEGIES[signal](out_of_range=True))
    def prop(request: Message) -> None:
        check_round_trip(signal, request, write_and_read)

    prop()
