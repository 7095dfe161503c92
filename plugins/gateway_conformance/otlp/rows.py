"""OTLP export requests -> Arrow tables in exactly the documented tables' schemas.

One row per metric data point (all five kinds), per log record, per span. The encodings
the documentation leaves open are decided in ``docs/otlp-mapping.md``; in short:

* AnyValue -> STRING: string as-is; bool ``true``/``false``; int in decimal; double as the
  shortest round-trip text (``NaN``, ``Infinity``, ``-Infinity``); bytes in base64;
  array and kvlist as compact JSON; no value -> NULL.
* A repeated attribute key keeps its first position and its last value.
* Enums by their proto name (``SEVERITY_NUMBER_INFO``, ``AGGREGATION_TEMPORALITY_DELTA``,
  ``SPAN_KIND_SERVER``, ``STATUS_CODE_OK``); a number unknown to this build as decimal text.
* Trace and span ids in lowercase hex; an empty id is NULL.
* NULL means "absent" in OTLP: an unset optional or oneof, an empty id or AnyValue, and
  the point-kind structs of a metric row that belong to other kinds. Plain proto3 fields
  (strings, numbers, sub-messages) keep their default values: "" and 0 stay "" and 0.
* A value no column can hold (a fixed64 above the LONG range, a uint32 above INT, an
  ``as_int`` that DOUBLE cannot hold exactly) rejects its data point, log record or span
  through OTLP partial success; it is never wrapped or rounded.

Speed: the mapping, not protobuf parsing, is the cost of ingestion. Requests are read
through the lazy twins of :func:`~gateway_conformance.otlp.decode.decode_protobuf_lazy`,
so each distinct attribute list is converted once per request. A metric's points are read
column by column with C-level ``map`` loops (a Python loop per point and field costs more
than upb's parse); a metric holding a value to reject goes point by point instead, the
plain reading of the rules, and ``tests/test_otlp_fast_paths.py`` holds the two paths
equal. Columns are built as Python lists and turned into one Arrow array each;
per-metric, per-scope and per-resource values are built once and spread over their rows
with ``take`` by indices that Arrow expands from runs. Every array is fresh, never a
slice (delta-rs aborts the process on sliced structs holding lists or maps).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import attrgetter, itemgetter, methodcaller
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway_conformance.otlp.decode import PROTOBUF, DecodeError, decode, decode_protobuf_lazy
from gateway_conformance.otlp.signals import KINDS, SIGNALS, Signal
from gateway_conformance.tables.schema import arrow_schema

LONG_MAX = (1 << 63) - 1
INT_MAX = (1 << 31) - 1
METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@dataclass(frozen=True)
class MappedRows:
    """The rows of one export request, and what it rejected (for OTLP partial success).

    ``rejected`` counts data points, log records or spans; ``error_message`` names the
    first rejected item's path, field and value (None when nothing was rejected).
    """

    table: pa.Table
    rejected: int = 0
    error_message: str | None = None


# ---------------------------------------------------------------------------------------------
# Value encodings (public: the documented contract of the STRING and MAP columns)


def enum_names(enum: Any) -> dict[int, str]:
    """Number -> proto name of an OTLP enum (``SeverityNumber`` etc.)."""
    return {value.number: value.name for value in enum.DESCRIPTOR.values}


SEVERITY_NAMES = enum_names(SeverityNumber)
TEMPORALITY_NAMES = enum_names(AggregationTemporality)
SPAN_KIND_NAMES = enum_names(Span.SpanKind)
STATUS_CODE_NAMES = enum_names(Status.StatusCode)


def enum_text(names: dict[int, str], number: int) -> str:
    """The enum's proto name, or its number in decimal when this build does not know it."""
    name = names.get(number)
    return name if name is not None else str(number)


_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def double_text(value: float) -> str:
    """Shortest text that reads back as the same double; non-finite as ProtoJSON spells it
    (``NaN``, ``Infinity``, ``-Infinity``: also what Spark casts back to DOUBLE)."""
    if value != value:
        return "NaN"
    return _NON_FINITE.get(value) or repr(value)


def _json_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else double_text(number)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        return [_json_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: _json_value(pair.value) for pair in value.kvlist_value.values}
    return None  # no value, or a profiles-only string_value_strindex (no dictionary here)


def any_value_text(value: AnyValue) -> str | None:
    """The documented STRING encoding of an AnyValue (attribute values and log bodies)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return double_text(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(_json_value(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return None


def _hex_id(raw: bytes) -> str | None:
    return raw.hex() if raw else None


# ---------------------------------------------------------------------------------------------
# Column builders: Python lists in, one fresh Arrow array out.


def _arrays(fields: Iterable[pa.Field], values: dict[str, list[Any] | pa.Array],
            where: str) -> list[pa.Array]:
    """One array per DDL field, in the DDL's order; lists are converted with the DDL's types.

    A field the mapping has no values for is a bug in the mapping, not in the request."""
    arrays = []
    for field in fields:
        if field.name not in values:
            raise KeyError(f"the mapping has no rule for field {field.name!r} of {where}")
        value = values[field.name]
        arrays.append(value if isinstance(value, pa.Array) else pa.array(value, type=field.type))
    return arrays


def _assemble(struct_type: pa.StructType, children: dict[str, list[Any] | pa.Array]) -> pa.StructArray:
    arrays = _arrays(struct_type, children, str(struct_type))
    return pa.StructArray.from_arrays(arrays, fields=list(struct_type))


def _table(schema: pa.Schema, columns: dict[str, list[Any] | pa.Array]) -> pa.Table:
    return pa.Table.from_arrays(_arrays(schema, columns, "the table"), schema=schema)


def _list_of(list_type: pa.ListType, offsets: list[int], children: dict[str, Any]) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                    _assemble(list_type.value_type, children), type=list_type)


class _AttributeCache:
    """The distinct attribute lists of one request, each converted once.

    A list is known by its serialized KeyValues; it gets an index into one MAP array of
    all distinct lists, and every map column is that array ``take``-n by index: no string
    of a repeated attribute set goes through Python twice.
    """

    def __init__(self) -> None:
        self.lists: dict[tuple[bytes, ...], int] = {}
        self.pairs: dict[bytes, tuple[str, str | None]] = {}
        self.offsets = [0]
        self.keys: list[str] = []
        self.values: list[str | None] = []
        self._built: tuple[int, pa.Array] | None = None

    def convert(self, raws: tuple[bytes, ...]) -> int:
        found: dict[str, str | None] = {}
        for raw in raws:
            pair = self.pairs.get(raw)
            if pair is None:
                decoded = KeyValue.FromString(raw)
                pair = self.pairs[raw] = (decoded.key, any_value_text(decoded.value))
            found[pair[0]] = pair[1]  # a repeated key: first position, last value
        self.keys.extend(found)
        self.values.extend(found.values())
        self.offsets.append(len(self.keys))
        index = self.lists[raws] = len(self.lists)
        return index

    def distinct(self, map_type: pa.MapType) -> pa.Array:
        """All distinct maps so far, in index order (rebuilt only when new ones arrived)."""
        if self._built is None or self._built[0] != len(self.lists):
            self._built = (len(self.lists), pa.MapArray.from_arrays(
                pa.array(self.offsets, pa.int32()), pa.array(self.keys, map_type.key_type),
                pa.array(self.values, map_type.item_type), type=map_type))
        return self._built[1]


class _Maps:
    """A MAP<STRING, STRING> column, one map per ``add`` of a lazy attribute list."""

    __slots__ = ("cache", "indices")

    def __init__(self, cache: _AttributeCache) -> None:
        self.cache = cache
        self.indices: list[int] = []

    def add(self, raws: Any) -> None:
        raws = tuple(raws[:])  # slicing copies a repeated field at C speed; iterating it does not
        index = self.cache.lists.get(raws)
        self.indices.append(self.cache.convert(raws) if index is None else index)

    def add_all(self, lists: Iterable[Any]) -> None:
        """``add`` for each attribute list, looked up with C loops (``map``)."""
        keys = list(map(tuple, map(_EVERYTHING, lists)))
        found = list(map(self.cache.lists.get, keys))
        if None in found:  # new lists: convert each once, in order
            cached, convert = self.cache.lists.get, self.cache.convert
            for position, index in enumerate(found):
                if index is None:
                    index = cached(keys[position])
                    found[position] = convert(keys[position]) if index is None else index
        self.indices.extend(found)

    def array(self, map_type: pa.MapType) -> pa.Array:
        return self.cache.distinct(map_type).take(pa.array(self.indices, pa.int32()))


class _Lists:
    """An ARRAY<scalar> column, one list per ``add``."""

    __slots__ = ("flat", "offsets")

    def __init__(self) -> None:
        self.offsets = [0]
        self.flat: list[Any] = []

    def add(self, values: Any) -> None:
        self.flat.extend(values[:])
        self.offsets.append(len(self.flat))

    def add_all(self, lists: list[list[Any]]) -> None:
        """``add`` for each of ``lists`` (already copied out of their containers)."""
        self.flat.extend(chain.from_iterable(lists))
        _extend_offsets(self.offsets, lists)

    def array(self, list_type: pa.ListType) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()),
                                        pa.array(self.flat, list_type.value_type), type=list_type)


def _extend_offsets(offsets: list[int], lists: list[Any]) -> None:
    """Append the end offset of each of ``lists``, laid end to end after ``offsets[-1]``."""
    ends = list(accumulate(map(len, lists), initial=offsets[-1]))
    del ends[0]
    offsets.extend(ends)


# ---------------------------------------------------------------------------------------------
# Range checks: the fast path is one comparison per field; the message is built only on failure.


def _too_big(field: str, value: int, column_type: str, limit: int) -> str:
    return f"{field} = {value} does not fit the {column_type} column (max {limit})"


def _first_too_big(message: Any, longs: tuple[str, ...], ints: tuple[str, ...],
                   prefix: str = "") -> str | None:
    for field in longs:
        if getattr(message, field) > LONG_MAX:
            return _too_big(prefix + field, getattr(message, field), "LONG", LONG_MAX)
    for field in ints:
        if getattr(message, field) > INT_MAX:
            return _too_big(prefix + field, getattr(message, field), "INT", INT_MAX)
    return None


def _inexact(field: str, whole: int) -> str:
    return (f"{field}.as_int = {whole} cannot be held exactly by the DOUBLE column "
            f"(integers beyond 2**53 would lose digits)")


def _number_values(messages: list[Any]) -> list[float | None] | None:
    """The DOUBLE ``value`` of number points or exemplars, with C loops: ``as_double``, an
    ``as_int`` as the same double, or NULL for neither. None when an ``as_int`` cannot be
    held exactly (the caller then goes point by point to reject just that one).

    An unset ``as_double`` reads 0.0, so a value that is not 0.0 (NaN included) is a set
    ``as_double``: only the zeros need asking which member of the oneof is set, one by
    one when they are a quarter of the values or fewer, else all in one C loop."""
    doubles = list(map(_AS_DOUBLE, messages))
    zeros = doubles.count(0.0)  # -0.0 too
    if zeros * 4 <= len(doubles):
        position = -1
        for _ in range(zeros):
            position = doubles.index(0.0, position + 1)
            kind = messages[position].WhichOneof("value")
            if kind == "as_int":
                whole = messages[position].as_int
                if float(whole) != whole:
                    return None
                doubles[position] = float(whole)
            elif kind is None:
                doubles[position] = None
        return doubles
    kinds = list(map(_WHICH_VALUE, messages))
    size = len(kinds)
    if kinds.count("as_double") == size:
        return doubles
    if kinds.count(None) == size:
        return [None] * size
    whole = list(map(_AS_INT, messages))  # 0 where unset
    whole_doubles = list(map(float, whole))
    if whole_doubles != whole:  # int == float compares exactly
        return None
    if kinds.count("as_int") == size:
        return whole_doubles
    return [number if kind == "as_double" else double if kind == "as_int" else None
            for kind, number, double in zip(kinds, doubles, whole_doubles, strict=True)]


def _optional(points: list[Any], field: str) -> list[float | None]:
    """An ``optional double`` of each point, NULL where it is unset."""
    values = list(map(attrgetter(field), points))
    if 0.0 not in values:  # an unset one reads as 0.0 (and -0.0 == 0.0 is asked about too)
        return values
    present = list(map(methodcaller("HasField", field), points))
    return [value if has else None for value, has in zip(values, present, strict=True)]


def _counts_problem(field: str, counts: Any) -> str | None:
    if counts and max(counts) > LONG_MAX:
        index, value = next((i, c) for i, c in enumerate(counts) if c > LONG_MAX)
        return _too_big(f"{field}[{index}]", value, "LONG", LONG_MAX)
    return None


_EVERYTHING = itemgetter(slice(None))  # container[:]: copies a repeated field at C speed
_START = attrgetter("start_time_unix_nano")
_TIME = attrgetter("time_unix_nano")
_FLAGS = attrgetter("flags")
_AS_DOUBLE = attrgetter("as_double")
_AS_INT = attrgetter("as_int")
_EXEMPLARS = attrgetter("exemplars")
_ATTRIBUTES = attrgetter("attributes")
_FILTERED_ATTRIBUTES = attrgetter("filtered_attributes")
_SPAN_ID = attrgetter("span_id")
_TRACE_ID = attrgetter("trace_id")
_WHICH_VALUE = methodcaller("WhichOneof", "value")
_COUNT = attrgetter("count")
_SUM = attrgetter("sum")
_POSITIVE = attrgetter("positive")
_NEGATIVE = attrgetter("negative")
_BUCKET_COUNTS = attrgetter("bucket_counts")
_EXPLICIT_BOUNDS = attrgetter("explicit_bounds")
_ZERO_COUNT = attrgetter("zero_count")
_ZERO_THRESHOLD = attrgetter("zero_threshold")
_SCALE = attrgetter("scale")
_OFFSET = attrgetter("offset")
_QUANTILE_VALUES = attrgetter("quantile_values")
_QUANTILE = attrgetter("quantile")
_VALUE = attrgetter("value")
_POINT_LONGS = ("start_time_unix_nano", "time_unix_nano")
_POINT_INTS = ("flags",)


class _Exemplars:
    """The ARRAY<STRUCT<...>> ``exemplars`` field shared by four point kinds."""

    def __init__(self, cache: _AttributeCache) -> None:
        self.offsets = [0]
        self.time: list[int] = []
        self.value: list[float | None] = []
        self.span_id: list[str | None] = []
        self.trace_id: list[str | None] = []
        self.attributes = _Maps(cache)

    @staticmethod
    def problem(exemplars: Any) -> str | None:
        for index, exemplar in enumerate(exemplars):
            if exemplar.time_unix_nano > LONG_MAX:
                return _too_big(f"exemplars[{index}].time_unix_nano", exemplar.time_unix_nano, "LONG",
                                LONG_MAX)
            if exemplar.WhichOneof("value") == "as_int" and float(exemplar.as_int) != exemplar.as_int:
                return _inexact(f"exemplars[{index}]", exemplar.as_int)
        return None

    def add_all(self, lists: list[Any]) -> bool:
        """``add`` for each point's exemplar list, column by column with C loops. Returns
        False, having added nothing, when one has a :meth:`problem` (go point by point)."""
        if not any(lists):
            self.offsets.extend([self.offsets[-1]] * len(lists))
            return True
        exemplars = list(chain.from_iterable(map(_EVERYTHING, filter(None, lists))))
        times = list(map(_TIME, exemplars))
        values = _number_values(exemplars)
        if values is None or max(times) > LONG_MAX:
            return False
        self.time.extend(times)
        self.value.extend(values)
        self.span_id.extend(map(_hex_id, map(_SPAN_ID, exemplars)))
        self.trace_id.extend(map(_hex_id, map(_TRACE_ID, exemplars)))
        self.attributes.add_all(map(_FILTERED_ATTRIBUTES, exemplars))
        _extend_offsets(self.offsets, lists)
        return True

    def add(self, exemplars: Any) -> None:
        for exemplar in exemplars:
            kind = exemplar.WhichOneof("value")
            self.time.append(exemplar.time_unix_nano)
            self.value.append(exemplar.as_double if kind == "as_double"
                              else float(exemplar.as_int) if kind == "as_int" else None)
            self.span_id.append(_hex_id(exemplar.span_id))
            self.trace_id.append(_hex_id(exemplar.trace_id))
            self.attributes.add(exemplar.filtered_attributes)
        self.offsets.append(len(self.time))

    def array(self, list_type: pa.ListType) -> pa.Array:
        element = list_type.value_type
        return _list_of(list_type, self.offsets, {
            "time_unix_nano": self.time, "value": self.value, "span_id": self.span_id,
            "trace_id": self.trace_id,
            "filtered_attributes": self.attributes.array(element.field("filtered_attributes").type)})


# ---------------------------------------------------------------------------------------------
# Metrics: one builder per point kind holds the dense columns of that kind's struct. Each
# takes a metric's whole point list at once, with hot attributes bound to locals: a method
# call or attribute lookup per point and column would cost more than the work itself.

Reject = Callable[[int, str], None]


class _PointKind:
    """Columns every point kind has; subclasses map one metric's points in ``add_points``."""

    def __init__(self, struct_type: pa.StructType, cache: _AttributeCache) -> None:
        self.type = struct_type
        self.start: list[int] = []
        self.time: list[int] = []
        self.flags: list[int] = []
        self.temporality = _PerMetric()
        self.attributes = _Maps(cache)
        self.exemplars = _Exemplars(cache)

    @property
    def size(self) -> int:
        return len(self.time)

    def add_points(self, data: Any, reject: Reject) -> None:
        """Append each point of metric ``data`` that fits; ``reject(index, why)`` the others."""
        raise NotImplementedError

    @staticmethod
    def _common_columns(points: list[Any]) -> tuple[list[int], list[int], list[int]] | None:
        """Start times, times and flags of ``points`` (C loops), or None if one is out of range."""
        starts, times, flags = list(map(_START, points)), list(map(_TIME, points)), list(map(_FLAGS, points))
        if points and (max(starts) > LONG_MAX or max(times) > LONG_MAX or max(flags) > INT_MAX):
            return None
        return starts, times, flags

    def _extend_common(self, common: tuple[list[int], list[int], list[int]], points: list[Any]) -> None:
        """Add what :meth:`_common_columns` read, and the attributes, of accepted ``points``."""
        self.start.extend(common[0])
        self.time.extend(common[1])
        self.flags.extend(common[2])
        self.attributes.add_all(map(_ATTRIBUTES, points))

    @staticmethod
    def _common_problem(point: Any) -> str | None:
        """Slow path, reached only when a range check failed: say which field."""
        return _first_too_big(point, _POINT_LONGS, _POINT_INTS)

    def _add_temporality(self, data: Any, accepted: int) -> None:
        self.temporality.add(enum_text(TEMPORALITY_NAMES, data.aggregation_temporality), accepted)

    def children(self) -> dict[str, list[Any] | pa.Array]:
        children = {"start_time_unix_nano": self.start, "time_unix_nano": self.time, "flags": self.flags,
                    "aggregation_temporality": self.temporality.array(pa.string()),
                    "attributes": self.attributes.array(self.type.field("attributes").type)}
        if "exemplars" in self.type.names:  # summaries have none
            children["exemplars"] = self.exemplars.array(self.type.field("exemplars").type)
        return children

    def array(self) -> pa.StructArray:
        return _assemble(self.type, self.children())


class _Number(_PointKind):
    """Gauge and sum points (``NumberDataPoint``); sums add temporality and monotonicity."""

    def __init__(self, struct_type: pa.StructType, cache: _AttributeCache) -> None:
        super().__init__(struct_type, cache)
        self.value: list[float | None] = []
        self.monotonic = _PerMetric()
        self.is_sum = "is_monotonic" in struct_type.names

    def add_points(self, data: Any, reject: Reject) -> None:
        before = self.size
        points = data.data_points[:]
        if not self._add_columns(points):
            self._add_each(points, reject)
        if self.is_sum:
            accepted = self.size - before
            self._add_temporality(data, accepted)
            self.monotonic.add(data.is_monotonic, accepted)

    def _add_columns(self, points: list[Any]) -> bool:
        """The common case column by column, with C loops (``map``) instead of a Python loop
        per point: every field in range, every ``as_int`` exact.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        common = self._common_columns(points)
        if common is None:
            return False
        values = _number_values(points)
        if values is None or not self.exemplars.add_all(list(map(_EXEMPLARS, points))):
            return False
        self._extend_common(common, points)
        self.value.extend(values)
        return True

    def _add_each(self, points: list[Any], reject: Reject) -> None:
        """Point by point: any mix of values, exemplars, and rejections."""
        start, time, flags, value = (self.start.append, self.time.append, self.flags.append,
                                     self.value.append)
        add_attributes, exemplar_offsets = self.attributes.add, self.exemplars.offsets
        for index, point in enumerate(points):
            point_start, point_time = point.start_time_unix_nano, point.time_unix_nano
            point_flags = point.flags
            if point_start > LONG_MAX or point_time > LONG_MAX or point_flags > INT_MAX:
                reject(index, self._common_problem(point))
                continue
            kind = point.WhichOneof("value")
            if kind == "as_double":
                number = point.as_double
            elif kind == "as_int":
                number = float(point.as_int)
                if number != point.as_int:
                    reject(index, _inexact("value", point.as_int))
                    continue
            else:
                number = None
            exemplars = point.exemplars
            if exemplars:
                problem = _Exemplars.problem(exemplars)
                if problem:
                    reject(index, problem)
                    continue
                self.exemplars.add(exemplars)
            else:
                exemplar_offsets.append(exemplar_offsets[-1])
            start(point_start)
            time(point_time)
            flags(point_flags)
            value(number)
            add_attributes(point.attributes)

    def children(self) -> dict[str, list[Any] | pa.Array]:
        return {**super().children(), "value": self.value, "is_monotonic": self.monotonic.array(pa.bool_())}


class _Histogram(_PointKind):
    """Histogram and exponential histogram points: count, optional sum/min/max, buckets."""

    def __init__(self, struct_type: pa.StructType, cache: _AttributeCache) -> None:
        super().__init__(struct_type, cache)
        self.count: list[int] = []
        self.sum: list[float | None] = []
        self.min: list[float | None] = []
        self.max: list[float | None] = []
        self.bucket_counts = _Lists()
        self.explicit_bounds = _Lists()
        self.scale: list[int] = []
        self.zero_count: list[int] = []
        self.zero_threshold: list[float] = []
        self.offsets: dict[str, list[int]] = {"positive": [], "negative": []}
        self.buckets: dict[str, _Lists] = {"positive": _Lists(), "negative": _Lists()}
        self.exponential = "scale" in struct_type.names

    def _problem(self, point: Any) -> str:
        """Slow path, reached only when a range check failed: say which field."""
        if point.count > LONG_MAX:
            return _too_big("count", point.count, "LONG", LONG_MAX)
        if self.exponential:
            if point.zero_count > LONG_MAX:
                return _too_big("zero_count", point.zero_count, "LONG", LONG_MAX)
            problem = (_counts_problem("positive.bucket_counts", point.positive.bucket_counts)
                       or _counts_problem("negative.bucket_counts", point.negative.bucket_counts))
        else:
            problem = _counts_problem("bucket_counts", point.bucket_counts)
        problem = problem or self._common_problem(point) or _Exemplars.problem(point.exemplars)
        assert problem, "a range check failed without a reason"
        return problem

    def add_points(self, data: Any, reject: Reject) -> None:
        before = self.size
        points = data.data_points[:]
        if not self._add_columns(points):
            self._add_each(points, reject)
        self._add_temporality(data, self.size - before)

    def _add_columns(self, points: list[Any]) -> bool:
        """All points column by column with C loops, as :meth:`_Number._add_columns` does.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        common = self._common_columns(points)
        if common is None:
            return False
        counts = list(map(_COUNT, points))
        if counts and max(counts) > LONG_MAX:
            return False
        if self.exponential:
            positives, negatives = list(map(_POSITIVE, points)), list(map(_NEGATIVE, points))
            bucket_lists = (list(map(_EVERYTHING, map(_BUCKET_COUNTS, positives))),
                            list(map(_EVERYTHING, map(_BUCKET_COUNTS, negatives))))
            zero_counts = list(map(_ZERO_COUNT, points))
            if zero_counts and max(zero_counts) > LONG_MAX:
                return False
        else:
            bucket_lists = (list(map(_EVERYTHING, map(_BUCKET_COUNTS, points))),)
        if (max(chain.from_iterable(chain.from_iterable(bucket_lists)), default=0) > LONG_MAX
                or not self.exemplars.add_all(list(map(_EXEMPLARS, points)))):
            return False
        self._extend_common(common, points)
        self.count.extend(counts)
        for field, column in (("sum", self.sum), ("min", self.min), ("max", self.max)):
            column.extend(_optional(points, field))
        if self.exponential:
            self.scale.extend(map(_SCALE, points))
            self.zero_count.extend(zero_counts)
            self.zero_threshold.extend(map(_ZERO_THRESHOLD, points))
            for side, buckets, lists in zip(("positive", "negative"), (positives, negatives), bucket_lists,
                                            strict=True):
                self.offsets[side].extend(map(_OFFSET, buckets))
                self.buckets[side].add_all(lists)
        else:
            self.bucket_counts.add_all(bucket_lists[0])
            self.explicit_bounds.add_all(list(map(_EVERYTHING, map(_EXPLICIT_BOUNDS, points))))
        return True

    def _add_each(self, points: list[Any], reject: Reject) -> None:
        """Point by point, rejecting those that hold a value no column can."""
        exponential = self.exponential
        for index, point in enumerate(points):
            start, time, flags, count = (point.start_time_unix_nano, point.time_unix_nano, point.flags,
                                         point.count)
            if exponential:
                positive, negative = point.positive, point.negative  # unset: the empty default
                counts, other_counts = positive.bucket_counts[:], negative.bucket_counts[:]
                zero_count = point.zero_count
            else:
                counts, other_counts, zero_count = point.bucket_counts[:], (), 0
            exemplars = point.exemplars
            if (start > LONG_MAX or time > LONG_MAX or flags > INT_MAX or count > LONG_MAX
                    or zero_count > LONG_MAX or (counts and max(counts) > LONG_MAX)
                    or (other_counts and max(other_counts) > LONG_MAX)
                    or (exemplars and _Exemplars.problem(exemplars))):
                reject(index, self._problem(point))
                continue
            self.start.append(start)
            self.time.append(time)
            self.flags.append(flags)
            self.count.append(count)
            self.attributes.add(point.attributes)
            if exemplars:
                self.exemplars.add(exemplars)
            else:
                self.exemplars.offsets.append(self.exemplars.offsets[-1])
            self.sum.append(point.sum if point.HasField("sum") else None)
            self.min.append(point.min if point.HasField("min") else None)
            self.max.append(point.max if point.HasField("max") else None)
            if exponential:
                self.scale.append(point.scale)
                self.zero_count.append(zero_count)
                self.zero_threshold.append(point.zero_threshold)
                self.offsets["positive"].append(positive.offset)
                self.offsets["negative"].append(negative.offset)
                self.buckets["positive"].add(counts)
                self.buckets["negative"].add(other_counts)
            else:
                self.bucket_counts.add(counts)
                self.explicit_bounds.add(point.explicit_bounds)

    def children(self) -> dict[str, list[Any] | pa.Array]:
        children = {**super().children(), "count": self.count, "sum": self.sum, "min": self.min,
                    "max": self.max}
        if self.exponential:
            children.update(scale=self.scale, zero_count=self.zero_count, zero_threshold=self.zero_threshold)
            for side in ("positive", "negative"):
                bucket_type = self.type.field(f"{side}_bucket").type
                children[f"{side}_bucket"] = _assemble(bucket_type, {
                    "offset": self.offsets[side],
                    "bucket_counts": self.buckets[side].array(bucket_type.field("bucket_counts").type)})
        else:
            children.update(
                bucket_counts=self.bucket_counts.array(self.type.field("bucket_counts").type),
                explicit_bounds=self.explicit_bounds.array(self.type.field("explicit_bounds").type))
        return children


class _Summary(_PointKind):
    def __init__(self, struct_type: pa.StructType, cache: _AttributeCache) -> None:
        super().__init__(struct_type, cache)
        self.count: list[int] = []
        self.sum: list[float] = []
        self.quantile_offsets = [0]
        self.quantile: list[float] = []
        self.quantile_value: list[float] = []

    def add_points(self, data: Any, reject: Reject) -> None:
        points = data.data_points[:]
        if not self._add_columns(points):
            self._add_each(points, reject)

    def _add_columns(self, points: list[Any]) -> bool:
        """All points column by column with C loops, as :meth:`_Number._add_columns` does.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        common = self._common_columns(points)
        counts = list(map(_COUNT, points))
        if common is None or (counts and max(counts) > LONG_MAX):
            return False
        self._extend_common(common, points)
        self.count.extend(counts)
        self.sum.extend(map(_SUM, points))
        quantile_lists = list(map(_EVERYTHING, map(_QUANTILE_VALUES, points)))
        quantiles = list(chain.from_iterable(quantile_lists))
        self.quantile.extend(map(_QUANTILE, quantiles))
        self.quantile_value.extend(map(_VALUE, quantiles))
        _extend_offsets(self.quantile_offsets, quantile_lists)
        return True

    def _add_each(self, points: list[Any], reject: Reject) -> None:
        """Point by point, rejecting those that hold a value no column can."""
        quantiles, values, quantile_offsets = (self.quantile.append, self.quantile_value.append,
                                               self.quantile_offsets.append)
        for index, point in enumerate(points):
            start, time, flags, count = (point.start_time_unix_nano, point.time_unix_nano, point.flags,
                                         point.count)
            if start > LONG_MAX or time > LONG_MAX or flags > INT_MAX or count > LONG_MAX:
                reject(index, self._common_problem(point) or _too_big("count", count, "LONG", LONG_MAX))
                continue
            self.start.append(start)
            self.time.append(time)
            self.flags.append(flags)
            self.count.append(count)
            self.sum.append(point.sum)
            self.attributes.add(point.attributes)
            for quantile in point.quantile_values:
                quantiles(quantile.quantile)
                values(quantile.value)
            quantile_offsets(len(self.quantile))

    def children(self) -> dict[str, list[Any] | pa.Array]:
        return {**super().children(), "count": self.count, "sum": self.sum,
                "quantile_values": _list_of(self.type.field("quantile_values").type, self.quantile_offsets,
                                            {"quantile": self.quantile, "value": self.quantile_value})}


_KIND_BUILDERS: dict[str, Callable[[pa.StructType, _AttributeCache], _PointKind]] = {
    "gauge": _Number, "sum": _Number, "histogram": _Histogram,
    "exponential_histogram": _Histogram, "summary": _Summary}


# ---------------------------------------------------------------------------------------------
# Resource and scope: built once per ResourceX / ScopeX, spread over rows with take().


class _Context:
    """``resource`` + ``resource_schema_url`` or ``instrumentation_scope`` + ``*_schema_url``."""

    def __init__(self, struct_type: pa.StructType, cache: _AttributeCache) -> None:
        self.type = struct_type
        self.with_name = "name" in struct_type.names
        self.name: list[str] = []
        self.version: list[str] = []
        self.attributes = _Maps(cache)
        self.dropped: list[int] = []
        self.schema_url: list[str] = []

    def add(self, message: Any, schema_url: str, where: str) -> str | None:
        """Record one resource/scope; returns why its rows cannot be written, if so."""
        dropped = message.dropped_attributes_count
        problem = None
        if dropped > INT_MAX:
            problem, dropped = _too_big(f"{where}.dropped_attributes_count", dropped, "INT", INT_MAX), 0
        if self.with_name:
            self.name.append(message.name)
            self.version.append(message.version)
        self.attributes.add(message.attributes)
        self.dropped.append(dropped)
        self.schema_url.append(schema_url)
        return problem

    def columns(self, rows: pa.Array, struct_column: str, url_column: str) -> dict[str, pa.Array]:
        children: dict[str, Any] = {
            "attributes": self.attributes.array(self.type.field("attributes").type),
            "dropped_attributes_count": self.dropped}
        if self.with_name:
            children.update(name=self.name, version=self.version)
        return {struct_column: _spread(_assemble(self.type, children), rows),
                url_column: _spread(pa.array(self.schema_url, pa.string()), rows)}


class _PerMetric:
    """A struct field whose value is the same for all points of a metric (temporality,
    monotonicity): one value per metric, spread over its points by :class:`_Runs`."""

    __slots__ = ("runs", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.runs = _Runs()

    def add(self, value: Any, points: int) -> None:
        self.runs.add(len(self.values), points)
        self.values.append(value)

    def array(self, value_type: pa.DataType) -> pa.Array:
        return _spread(pa.array(self.values, value_type), self.runs.indices())


def _spread(values: pa.Array, indices: pa.Array) -> pa.Array:
    """One value per row from one value per resource/scope/metric (fresh arrays, no slices)."""
    return values.take(indices)


class _Runs:
    """Row -> index of its resource, scope or metric, kept as runs (rows come grouped).

    Arrow expands the runs (``run_end_decode``) into the int32 index column, so there is
    no Python int per row."""

    __slots__ = ("ends", "values")

    def __init__(self) -> None:
        self.ends: list[int] = []
        self.values: list[int] = []

    def add(self, value: int, rows: int) -> None:
        """The next ``rows`` rows belong to value number ``value``."""
        if rows:
            self.ends.append((self.ends[-1] if self.ends else 0) + rows)
            self.values.append(value)

    @property
    def rows(self) -> int:
        return self.ends[-1] if self.ends else 0

    def indices(self) -> pa.Array:
        if not self.ends:
            return pa.array([], pa.int32())
        return pc.run_end_decode(pa.RunEndEncodedArray.from_arrays(
            pa.array(self.ends, pa.int32()), pa.array(self.values, pa.int32())))


class _Rejections:
    """Counts rejected items and keeps the first reason (OTLP's ``error_message``)."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.count = 0
        self.first: str | None = None

    def add(self, where: str, problem: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = f"{where}: {problem}"

    def at(self, prefix: str) -> Reject:
        """``reject(index, why)`` for the items of the list at ``prefix``."""
        return lambda index, problem: self.add(f"{prefix}[{index}]", problem)

    def result(self, table: pa.Table) -> MappedRows:
        if not self.count:
            return MappedRows(table)
        more = f" (and {self.count - 1} more)" if self.count > 1 else ""
        return MappedRows(table, self.count, f"rejected {self.count} {self.noun}: {self.first}{more}")


class _Scopes:
    """Walks resource -> scope -> items for any signal, recording resources and scopes."""

    def __init__(self, schema: pa.Schema, cache: _AttributeCache, noun: str) -> None:
        self.resources = _Context(schema.field("resource").type, cache)
        self.scopes = _Context(schema.field("instrumentation_scope").type, cache)
        self.resource_rows = _Runs()
        self.scope_rows = _Runs()
        self.rejections = _Rejections(noun)

    def walk(self, resource_items: Any, resource_field: str, scope_field: str) -> Any:
        """Yield ``(where, problem, scope_item)`` per scope (``problem`` rejects all its items);
        :meth:`rows` records accepted rows under the current resource and scope."""
        for r, resource_item in enumerate(resource_items):
            where_r = f"{resource_field}[{r}]"
            resource_problem = self.resources.add(resource_item.resource, resource_item.schema_url,
                                                  f"{where_r}.resource")
            for s, scope_item in enumerate(getattr(resource_item, scope_field)):
                where_s = f"{where_r}.{scope_field}[{s}]"
                scope_problem = self.scopes.add(scope_item.scope, scope_item.schema_url, f"{where_s}.scope")
                yield where_s, resource_problem or scope_problem, scope_item

    def rows(self, count: int) -> None:
        self.resource_rows.add(len(self.resources.schema_url) - 1, count)
        self.scope_rows.add(len(self.scopes.schema_url) - 1, count)

    def columns(self, url_column: str) -> dict[str, pa.Array]:
        return {**self.resources.columns(self.resource_rows.indices(), "resource", "resource_schema_url"),
                **self.scopes.columns(self.scope_rows.indices(), "instrumentation_scope", url_column)}


def _map_metrics(request: Any) -> MappedRows:
    schema = arrow_schema(KINDS["metrics"])
    cache = _AttributeCache()
    walker = _Scopes(schema, cache, "data points")
    kinds = {kind: _KIND_BUILDERS[kind](schema.field(kind).type, cache) for kind in METRIC_KINDS}
    per_metric: dict[str, list[str]] = {"name": [], "description": [], "unit": [], "metric_type": []}
    metadata = _Maps(cache)
    segments: list[tuple[str, int, int]] = []  # (kind, first dense index, rows)
    metric_rows = _Runs()

    for where, scope_problem, scope_metrics in walker.walk(
            request.resource_metrics, "resource_metrics", "scope_metrics"):
        for m, metric in enumerate(scope_metrics.metrics):
            kind = metric.WhichOneof("data")
            if kind is None:
                continue  # a metric without data has no data points, hence no rows
            data = getattr(metric, kind)
            reject = walker.rejections.at(f"{where}.metrics[{m}] ({metric.name!r}) {kind}.data_points")
            if scope_problem:
                for index in range(len(data.data_points)):
                    reject(index, scope_problem)
                continue
            builder = kinds[kind]
            first = builder.size
            builder.add_points(data, reject)
            accepted = builder.size - first
            if accepted:
                metric_rows.add(len(per_metric["name"]), accepted)
                per_metric["name"].append(metric.name)
                per_metric["description"].append(metric.description)
                per_metric["unit"].append(metric.unit)
                per_metric["metric_type"].append(kind)
                metadata.add(metric.metadata)
                segments.append((kind, first, accepted))
                walker.rows(accepted)

    rows = metric_rows.rows
    metric_indices = metric_rows.indices()
    columns: dict[str, list[Any] | pa.Array] = {
        name: _spread(pa.array(values, pa.string()), metric_indices) for name, values in per_metric.items()}
    columns["metadata"] = _spread(metadata.array(schema.field("metadata").type), metric_indices)
    for kind, builder in kinds.items():
        columns[kind] = _kind_column(kind, builder, segments, rows)
    columns.update(walker.columns("metric_schema_url"))
    return walker.rejections.result(_table(schema, columns))


def _kind_column(kind: str, builder: _PointKind, segments: list[tuple[str, int, int]], rows: int) -> pa.Array:
    """The ``kind`` struct for every row: its point where the row is of that kind, else NULL."""
    if builder.size == 0:
        return pa.nulls(rows, builder.type)
    dense = builder.array()
    if builder.size == rows:
        return dense
    indices: list[int | None] = []
    for segment_kind, first, count in segments:
        if segment_kind == kind:
            indices.extend(range(first, first + count))
        else:
            indices.extend([None] * count)
    return dense.take(pa.array(indices, pa.int32()))


# ---------------------------------------------------------------------------------------------
# Logs and spans: one row per record/span, with the same resource/scope handling.

_RECORD_LONGS = ("time_unix_nano", "observed_time_unix_nano")
_RECORD_INTS = ("dropped_attributes_count", "flags")


def _map_logs(request: Any) -> MappedRows:
    schema = arrow_schema(KINDS["logs"])
    cache = _AttributeCache()
    walker = _Scopes(schema, cache, "log records")
    plain: dict[str, list[Any]] = {name: [] for name in (
        "event_name", "trace_id", "span_id", "time_unix_nano", "observed_time_unix_nano",
        "severity_number", "severity_text", "body", "dropped_attributes_count", "flags")}
    attributes = _Maps(cache)

    for where, scope_problem, scope_logs in walker.walk(
            request.resource_logs, "resource_logs", "scope_logs"):
        accepted = 0
        for i, record in enumerate(scope_logs.log_records):
            problem = scope_problem or _first_too_big(record, _RECORD_LONGS, _RECORD_INTS)
            if problem:
                walker.rejections.add(f"{where}.log_records[{i}]", problem)
                continue
            accepted += 1
            plain["event_name"].append(record.event_name)
            plain["trace_id"].append(_hex_id(record.trace_id))
            plain["span_id"].append(_hex_id(record.span_id))
            plain["time_unix_nano"].append(record.time_unix_nano)
            plain["observed_time_unix_nano"].append(record.observed_time_unix_nano)
            plain["severity_number"].append(enum_text(SEVERITY_NAMES, record.severity_number))
            plain["severity_text"].append(record.severity_text)
            plain["body"].append(any_value_text(AnyValue.FromString(record.body)) if record.body else None)
            plain["dropped_attributes_count"].append(record.dropped_attributes_count)
            plain["flags"].append(record.flags)
            attributes.add(record.attributes)
        walker.rows(accepted)

    columns: dict[str, list[Any] | pa.Array] = {
        **plain, "attributes": attributes.array(schema.field("attributes").type),
        **walker.columns("log_schema_url")}
    return walker.rejections.result(_table(schema, columns))


_SPAN_LONGS = ("start_time_unix_nano", "end_time_unix_nano")
_SPAN_INTS = ("flags", "dropped_attributes_count", "dropped_events_count", "dropped_links_count")
_EVENT_LONGS = ("time_unix_nano",)
_EVENT_INTS = ("dropped_attributes_count",)
_LINK_INTS = ("dropped_attributes_count", "flags")


def _span_problem(span: Any) -> str | None:
    problem = _first_too_big(span, _SPAN_LONGS, _SPAN_INTS)
    for index, event in enumerate(span.events):
        problem = problem or _first_too_big(event, _EVENT_LONGS, _EVENT_INTS, f"events[{index}].")
    for index, link in enumerate(span.links):
        problem = problem or _first_too_big(link, (), _LINK_INTS, f"links[{index}].")
    return problem


def _map_spans(request: Any) -> MappedRows:
    schema = arrow_schema(KINDS["spans"])
    cache = _AttributeCache()
    walker = _Scopes(schema, cache, "spans")
    plain: dict[str, list[Any]] = {name: [] for name in (
        "trace_id", "span_id", "trace_state", "parent_span_id", "flags", "name", "kind",
        "start_time_unix_nano", "end_time_unix_nano", "dropped_attributes_count",
        "dropped_events_count", "dropped_links_count")}
    attributes = _Maps(cache)
    events: dict[str, list[Any]] = {"time_unix_nano": [], "name": [], "dropped_attributes_count": []}
    event_attributes, event_offsets = _Maps(cache), [0]
    links: dict[str, list[Any]] = {"trace_id": [], "span_id": [], "trace_state": [],
                                   "dropped_attributes_count": [], "flags": []}
    link_attributes, link_offsets = _Maps(cache), [0]
    status: dict[str, list[str]] = {"message": [], "code": []}

    for where, scope_problem, scope_spans in walker.walk(
            request.resource_spans, "resource_spans", "scope_spans"):
        accepted = 0
        for i, span in enumerate(scope_spans.spans):
            problem = scope_problem or _span_problem(span)
            if problem:
                walker.rejections.add(f"{where}.spans[{i}]", problem)
                continue
            accepted += 1
            plain["trace_id"].append(_hex_id(span.trace_id))
            plain["span_id"].append(_hex_id(span.span_id))
            plain["trace_state"].append(span.trace_state)
            plain["parent_span_id"].append(_hex_id(span.parent_span_id))
            plain["flags"].append(span.flags)
            plain["name"].append(span.name)
            plain["kind"].append(enum_text(SPAN_KIND_NAMES, span.kind))
            plain["start_time_unix_nano"].append(span.start_time_unix_nano)
            plain["end_time_unix_nano"].append(span.end_time_unix_nano)
            plain["dropped_attributes_count"].append(span.dropped_attributes_count)
            plain["dropped_events_count"].append(span.dropped_events_count)
            plain["dropped_links_count"].append(span.dropped_links_count)
            attributes.add(span.attributes)
            for event in span.events:
                events["time_unix_nano"].append(event.time_unix_nano)
                events["name"].append(event.name)
                events["dropped_attributes_count"].append(event.dropped_attributes_count)
                event_attributes.add(event.attributes)
            event_offsets.append(len(events["name"]))
            for link in span.links:
                links["trace_id"].append(_hex_id(link.trace_id))
                links["span_id"].append(_hex_id(link.span_id))
                links["trace_state"].append(link.trace_state)
                links["dropped_attributes_count"].append(link.dropped_attributes_count)
                links["flags"].append(link.flags)
                link_attributes.add(link.attributes)
            link_offsets.append(len(links["flags"]))
            status["message"].append(span.status.message)  # an unset status reads as UNSET, ""
            status["code"].append(enum_text(STATUS_CODE_NAMES, span.status.code))
        walker.rows(accepted)

    events_type = schema.field("events").type
    links_type = schema.field("links").type
    columns: dict[str, list[Any] | pa.Array] = {
        **plain,
        "attributes": attributes.array(schema.field("attributes").type),
        "events": _list_of(events_type, event_offsets, {
            **events, "attributes": event_attributes.array(events_type.value_type.field("attributes").type)}),
        "links": _list_of(links_type, link_offsets, {
            **links, "attributes": link_attributes.array(links_type.value_type.field("attributes").type)}),
        "status": _assemble(schema.field("status").type, status),
        **walker.columns("span_schema_url"),
    }
    return walker.rejections.result(_table(schema, columns))


_MAPPERS: dict[Signal, Callable[[Any], MappedRows]] = {
    "metrics": _map_metrics, "logs": _map_logs, "spans": _map_spans}


def map_protobuf(signal: Signal, body: bytes) -> MappedRows:
    """Rows of a binary protobuf export request: the sink's fast path (no full parse first).

    Raises :class:`~gateway_conformance.otlp.decode.DecodeError` for a malformed body,
    including a malformed attribute or log body found while mapping.
    """
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; expected one of {', '.join(SIGNALS)}")
    request = decode_protobuf_lazy(signal, body)
    try:
        return _MAPPERS[signal](request)
    except ProtobufDecodeError as error:
        raise DecodeError(f"malformed protobuf {request.DESCRIPTOR.name} (an attribute or body): "
                          f"{error}") from None


def map_body(signal: Signal, body: bytes, media_type: str) -> MappedRows:
    """Rows of an OTLP/HTTP body of the bare ``media_type``: what the sink calls per request.

    Protobuf takes the fast path of :func:`map_protobuf`; OTLP/JSON is decoded, then mapped.
    Raises ``DecodeError`` (400) or ``UnsupportedMediaType`` (415) from
    :mod:`~gateway_conformance.otlp.decode`.
    """
    if media_type == PROTOBUF:
        return map_protobuf(signal, body)
    return map_request(signal, decode(signal, body, media_type))


def map_request(signal: Signal, request: Message) -> MappedRows:
    """Rows of a parsed export request of ``signal`` (``metrics``, ``logs`` or ``spans``),
    e.g. one decoded from OTLP/JSON."""
    return map_protobuf(signal, request.SerializeToString())


def map_metrics(request: Message) -> MappedRows:
    """Rows of an ``ExportMetricsServiceRequest``: one per data point of every kind."""
    return map_request("metrics", request)


def map_logs(request: Message) -> MappedRows:
    """Rows of an ``ExportLogsServiceRequest``: one per log record."""
    return map_request("logs", request)


def map_spans(request: Message) -> MappedRows:
    """Rows of an ``ExportTraceServiceRequest``: one per span."""
    return map_request("spans", request)
