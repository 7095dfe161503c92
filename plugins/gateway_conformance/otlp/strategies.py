"""Hypothesis strategies for OTLP export requests: a public API, like ``hypothesis.strategies``.

Use them to property-test anything that consumes OTLP: this package's row mapping and
sink, another sink, or a real collector::

    from hypothesis import given
    from gateway_conformance.otlp import strategies as otlp_st

    @given(otlp_st.export_metrics_requests())
    def test_every_point_becomes_a_row(request): ...

What they cover: all five metric point kinds (and metrics with no data), every AnyValue
kind (string, bool, int, double, bytes, array, kvlist, empty, and the profiles-only
string-table index) nested up to a few levels, NaN, infinities and negative zero, empty,
unicode and 64 KiB strings, int64 and uint64 boundaries, empty and full trace/span ids,
zero times, repeated attribute keys, and enum numbers this build does not know.

Values that no documented column can hold (a fixed64 time above 2**63-1, a uint32 count
above 2**31-1, an integer gauge DOUBLE cannot hold exactly) appear only when
``out_of_range=True``, so most properties get data that must map without rejections and
the rejection path is exercised on purpose.

Sizes stay modest (a few resources, scopes, metrics and points) so properties run fast;
the building blocks are cached because hypothesis re-validates every new strategy object.
"""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = [
    "any_values",
    "attributes",
    "export_logs_requests",
    "export_metrics_requests",
    "export_trace_requests",
    "strings",
]

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
INT32_MAX, UINT32_MAX = (1 << 31) - 1, (1 << 32) - 1
DOUBLE_EXACT = 1 << 53  # integers up to this magnitude are exact as doubles
HUGE = 1 << 16

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=10)  # proto3 strings are UTF-8


@cache
def strings(*, huge: bool = False) -> st.SearchStrategy[str]:
    """Short unicode text, the empty string and familiar names; with ``huge`` also 64 KiB runs."""
    choices = [_TEXT, st.sampled_from(["", "claude-code", "ok", "ünïcödé ✓ 🚀", "a\x00b"])]
    if huge:
        choices.append(st.builds(lambda char, size: char * size, st.characters(codec="utf-8"), st.just(HUGE)))
    return st.one_of(*choices)


@cache
def _keys() -> st.SearchStrategy[str]:
    # A small pool makes repeated keys (last value wins) common enough to matter.
    return st.one_of(st.sampled_from(["service.name", "type", "model", "a", ""]), _TEXT)


@cache
def _scalar_values() -> st.SearchStrategy[AnyValue]:
    return st.one_of(
        strings(huge=True).map(lambda text: AnyValue(string_value=text)),
        st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
        st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from([INT64_MIN, INT64_MAX, 0, -1]))
        .map(lambda whole: AnyValue(int_value=whole)),
        st.one_of(st.floats(), st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e300]))
        .map(lambda number: AnyValue(double_value=number)),
        st.binary(max_size=12).map(lambda raw: AnyValue(bytes_value=raw)),
        st.just(AnyValue()),
        st.integers(0, 100).map(lambda index: AnyValue(string_value_strindex=index)),
    )


@cache
def any_values(*, nested: bool = True) -> st.SearchStrategy[AnyValue]:
    """Every AnyValue kind; with ``nested`` (default) arrays and kvlists of them, a few deep."""
    if not nested:
        return _scalar_values()
    return st.recursive(
        _scalar_values(),
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(
                lambda values: AnyValue(array_value=ArrayValue(values=values))),
            st.lists(st.tuples(_keys(), children), max_size=3).map(lambda pairs: AnyValue(
                kvlist_value=KeyValueList(values=[KeyValue(key=key, value=value) for key, value in pairs])))),
        max_leaves=5)


@cache
def attributes(*, max_size: int = 3, nested: bool = True) -> st.SearchStrategy[list[KeyValue]]:
    """Attribute lists (``repeated KeyValue``), repeated keys included; ``nested=False``
    keeps values scalar (cheaper to generate where nesting adds no coverage)."""
    return st.lists(st.tuples(_keys(), any_values(nested=nested)), max_size=max_size).map(
        lambda pairs: [KeyValue(key=key, value=value) for key, value in pairs])


@cache
def _ids(size: int) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b""), st.binary(min_size=size, max_size=size))


def _sometimes(valid: st.SearchStrategy[int], beyond: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    """``beyond`` about one draw in eight, so a request mixes accepted and rejected items."""
    return st.integers(0, 7).flatmap(lambda roll: beyond if roll == 0 else valid)


@cache
def _u64(out_of_range: bool) -> st.SearchStrategy[int]:
    """fixed64 times and counts: zero and the LONG boundary, beyond it only if asked."""
    valid = st.one_of(st.just(0), st.integers(0, INT64_MAX), st.just(INT64_MAX))
    if not out_of_range:
        return valid
    return _sometimes(valid, st.one_of(st.integers(INT64_MAX + 1, UINT64_MAX), st.just(UINT64_MAX)))


@cache
def _u32(out_of_range: bool) -> st.SearchStrategy[int]:
    """uint32/fixed32 counts and flags: beyond INT's range only if asked."""
    valid = st.one_of(st.just(0), st.integers(0, INT32_MAX))
    return _sometimes(valid, st.integers(INT32_MAX + 1, UINT32_MAX)) if out_of_range else valid


@cache
def _floats() -> st.SearchStrategy[float]:
    return st.one_of(st.floats(), st.sampled_from([0.0, -0.0, float("nan"), float("inf")]))


@cache
def _enum(known: object, unknown: int) -> st.SearchStrategy[int]:
    numbers = [value.number for value in known.DESCRIPTOR.values]  # type: ignore[attr-defined]
    return st.sampled_from([*numbers, unknown])


@st.composite
def _resource(draw: st.DrawFn, out_of_range: bool) -> Resource:
    return Resource(attributes=draw(attributes(nested=False)),
                    dropped_attributes_count=draw(_u32(out_of_range)))


@st.composite
def _scope(draw: st.DrawFn, out_of_range: bool) -> InstrumentationScope:
    return InstrumentationScope(name=draw(strings()), version=draw(strings()),
                                attributes=draw(attributes(max_size=2, nested=False)),
                                dropped_attributes_count=draw(_u32(out_of_range)))


def _fill_number(draw: st.DrawFn, target: object, out_of_range: bool) -> None:
    """The ``as_double`` / ``as_int`` oneof (or neither) of a point or an exemplar."""
    kind = draw(st.sampled_from(["as_double", "as_int", None]))
    if kind == "as_double":
        target.as_double = draw(_floats())  # type: ignore[attr-defined]
    elif kind == "as_int":
        exact = st.one_of(st.integers(-DOUBLE_EXACT, DOUBLE_EXACT),
                          st.sampled_from([0, -DOUBLE_EXACT, DOUBLE_EXACT]))
        if out_of_range:  # beyond 2**53 most integers are not exact doubles
            exact = _sometimes(exact, st.sampled_from([INT64_MAX, INT64_MIN + 1, DOUBLE_EXACT + 1]))
        target.as_int = draw(exact)  # type: ignore[attr-defined]


def _fill_point(draw: st.DrawFn, point: object, kind: str, out_of_range: bool) -> None:
    point.attributes.extend(draw(attributes()))  # type: ignore[attr-defined]
    point.start_time_unix_nano = draw(_u64(out_of_range))  # type: ignore[attr-defined]
    point.time_unix_nano = draw(_u64(out_of_range))  # type: ignore[attr-defined]
    point.flags = draw(_u32(out_of_range))  # type: ignore[attr-defined]
    if kind != "summary":
        for _ in range(draw(st.integers(0, 1))):
            exemplar = point.exemplars.add(  # type: ignore[attr-defined]
                time_unix_nano=draw(_u64(out_of_range)), span_id=draw(_ids(8)), trace_id=draw(_ids(16)))
            exemplar.filtered_attributes.extend(draw(attributes(max_size=2, nested=False)))
            _fill_number(draw, exemplar, out_of_range)
    if kind in ("gauge", "sum"):
        _fill_number(draw, point, out_of_range)
        return
    point.count = draw(_u64(out_of_range))  # type: ignore[attr-defined]
    if kind == "summary":
        point.sum = draw(_floats())  # type: ignore[attr-defined]
        for _ in range(draw(st.integers(0, 3))):
            point.quantile_values.add(quantile=draw(_floats()),
                                      value=draw(_floats()))  # type: ignore[attr-defined]
        return
    for optional in ("sum", "min", "max"):
        if draw(st.booleans()):
            setattr(point, optional, draw(_floats()))
    counts = st.lists(_u64(out_of_range), max_size=4)
    if kind == "histogram":
        point.bucket_counts.extend(draw(counts))  # type: ignore[attr-defined]
        point.explicit_bounds.extend(draw(st.lists(_floats(), max_size=3)))  # type: ignore[attr-defined]
        return
    point.scale = draw(st.integers(-10, 20))  # type: ignore[attr-defined]
    point.zero_count = draw(_u64(out_of_range))  # type: ignore[attr-defined]
    point.zero_threshold = draw(_floats())  # type: ignore[attr-defined]
    for side in ("positive", "negative"):
        if draw(st.booleans()):  # unset and set-but-empty buckets both occur
            buckets = getattr(point, side)
            buckets.SetInParent()
            buckets.offset = draw(st.integers(-(1 << 31), INT32_MAX))
            buckets.bucket_counts.extend(draw(counts))


@st.composite
def _metric(draw: st.DrawFn, out_of_range: bool) -> Metric:
    metric = Metric(name=draw(strings()), description=draw(strings()), unit=draw(strings()))
    metric.metadata.extend(draw(attributes(max_size=2, nested=False)))
    kind = draw(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary", None]))
    if kind is None:
        return metric  # a metric without data: no data points
    data = getattr(metric, kind)
    data.SetInParent()
    if kind in ("sum", "histogram", "exponential_histogram"):
        data.aggregation_temporality = draw(_enum(AggregationTemporality, 7))
    if kind == "sum":
        data.is_monotonic = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        _fill_point(draw, data.data_points.add(), kind, out_of_range)
    return metric


@st.composite
def _metrics_request(draw: st.DrawFn, out_of_range: bool) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        resource_metrics = request.resource_metrics.add(schema_url=draw(strings()))
        if draw(st.booleans()):
            resource_metrics.resource.CopyFrom(draw(_resource(out_of_range)))
        for _ in range(draw(st.integers(1, 2))):
            scope_metrics = resource_metrics.scope_metrics.add(schema_url=draw(strings()))
            if draw(st.booleans()):
                scope_metrics.scope.CopyFrom(draw(_scope(out_of_range)))
            scope_metrics.metrics.extend(draw(st.lists(_metric(out_of_range), max_size=3)))
    return request


def export_metrics_requests(*, out_of_range: bool = False) -> st.SearchStrategy[ExportMetricsServiceRequest]:
    """``ExportMetricsServiceRequest`` with gauge, sum, histogram, exponential histogram and
    summary points (plus metrics without data). ``out_of_range`` adds values no column holds."""
    return _metrics_request(out_of_range)


@st.composite
def _log_record(draw: st.DrawFn, out_of_range: bool) -> LogRecord:
    record = LogRecord(
        time_unix_nano=draw(_u64(out_of_range)), observed_time_unix_nano=draw(_u64(out_of_range)),
        severity_number=draw(_enum(SeverityNumber, 99)), severity_text=draw(strings()),
        attributes=draw(attributes()), dropped_attributes_count=draw(_u32(out_of_range)),
        flags=draw(_u32(out_of_range)), trace_id=draw(_ids(16)), span_id=draw(_ids(8)),
        event_name=draw(strings()))
    if draw(st.booleans()):
        record.body.CopyFrom(draw(any_values()))
    return record


@st.composite
def _logs_request(draw: st.DrawFn, out_of_range: bool) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        resource_logs = request.resource_logs.add(schema_url=draw(strings()))
        if draw(st.booleans()):
            resource_logs.resource.CopyFrom(draw(_resource(out_of_range)))
        for _ in range(draw(st.integers(1, 2))):
            scope_logs = resource_logs.scope_logs.add(schema_url=draw(strings()))
            if draw(st.booleans()):
                scope_logs.scope.CopyFrom(draw(_scope(out_of_range)))
            scope_logs.log_records.extend(draw(st.lists(_log_record(out_of_range), max_size=3)))
    return request


def export_logs_requests(*, out_of_range: bool = False) -> st.SearchStrategy[ExportLogsServiceRequest]:
    """``ExportLogsServiceRequest`` with every body kind (or none), severities known and not,
    empty and full ids. ``out_of_range`` adds values no column holds."""
    return _logs_request(out_of_range)


@st.composite
def _span(draw: st.DrawFn, out_of_range: bool) -> Span:
    span = Span(
        trace_id=draw(_ids(16)), span_id=draw(_ids(8)), trace_state=draw(strings()),
        parent_span_id=draw(_ids(8)), flags=draw(_u32(out_of_range)), name=draw(strings()),
        kind=draw(_enum(Span.SpanKind, 9)), start_time_unix_nano=draw(_u64(out_of_range)),
        end_time_unix_nano=draw(_u64(out_of_range)), attributes=draw(attributes()),
        dropped_attributes_count=draw(_u32(out_of_range)), dropped_events_count=draw(_u32(out_of_range)),
        dropped_links_count=draw(_u32(out_of_range)))
    for _ in range(draw(st.integers(0, 1))):
        span.events.add(time_unix_nano=draw(_u64(out_of_range)), name=draw(strings()),
                        attributes=draw(attributes(max_size=2, nested=False)),
                        dropped_attributes_count=draw(_u32(out_of_range)))
    for _ in range(draw(st.integers(0, 1))):
        span.links.add(trace_id=draw(_ids(16)), span_id=draw(_ids(8)), trace_state=draw(strings()),
                       attributes=draw(attributes(max_size=2, nested=False)),
                       dropped_attributes_count=draw(_u32(out_of_range)), flags=draw(_u32(out_of_range)))
    if draw(st.booleans()):
        span.status.CopyFrom(Status(message=draw(strings()), code=draw(_enum(Status.StatusCode, 5))))
    return span


@st.composite
def _trace_request(draw: st.DrawFn, out_of_range: bool) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        resource_spans = request.resource_spans.add(schema_url=draw(strings()))
        if draw(st.booleans()):
            resource_spans.resource.CopyFrom(draw(_resource(out_of_range)))
        for _ in range(draw(st.integers(1, 2))):
            scope_spans = resource_spans.scope_spans.add(schema_url=draw(strings()))
            if draw(st.booleans()):
                scope_spans.scope.CopyFrom(draw(_scope(out_of_range)))
            scope_spans.spans.extend(draw(st.lists(_span(out_of_range), max_size=3)))
    return request


def export_trace_requests(*, out_of_range: bool = False) -> st.SearchStrategy[ExportTraceServiceRequest]:
    """``ExportTraceServiceRequest`` with events, links, statuses (set or not), span kinds
    known and not, empty and full ids. ``out_of_range`` adds values no column holds."""
    return _trace_request(out_of_range)
