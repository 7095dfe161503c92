"""Metric point kinds: one builder per kind holds the dense columns of that kind's struct.

Each takes the points of all of a request's metrics of its kind at once (``add_metrics``),
column by column with C loops (a method call or attribute lookup per point and column would
cost more than the work itself): the checked fast path. When a value somewhere needs
rejecting it goes metric by metric, and a metric holding such a value point by point
(``_add_each``), the plain reading of the rules; ``tests/test_otlp_fast_paths.py`` holds the
paths equal.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

import pyarrow as pa

from gateway_conformance.otlp.columns import AttributeCache, Lists, Maps, assemble, extend_offsets, list_of
from gateway_conformance.otlp.context import PerMetric, Reject
from gateway_conformance.otlp.ranges import (
    counts_problem,
    first_too_big,
    inexact,
    number_values,
    optional,
    too_big,
)
from gateway_conformance.otlp.readers import (
    ATTRIBUTES,
    BUCKET_COUNTS,
    COUNT,
    EVERYTHING,
    EXEMPLARS,
    EXPLICIT_BOUNDS,
    FILTERED_ATTRIBUTES,
    FLAGS,
    NEGATIVE,
    OFFSET,
    POINT_INTS,
    POINT_LONGS,
    POSITIVE,
    QUANTILE,
    QUANTILE_VALUES,
    SCALE,
    SPAN_ID,
    START,
    SUM,
    TIME,
    TRACE_ID,
    VALUE,
    ZERO_COUNT,
    ZERO_THRESHOLD,
)
from gateway_conformance.otlp.values import INT_MAX, LONG_MAX, TEMPORALITY_NAMES, enum_text, hex_id


class _Exemplars:
    """The ARRAY<STRUCT<...>> ``exemplars`` field shared by four point kinds."""

    def __init__(self, cache: AttributeCache) -> None:
        self.offsets = [0]
        self.time: list[int] = []
        self.value: list[float | None] = []
        self.span_id: list[str | None] = []
        self.trace_id: list[str | None] = []
        self.attributes = Maps(cache)

    @staticmethod
    def problem(exemplars: Any) -> str | None:
        for index, exemplar in enumerate(exemplars):
            if exemplar.time_unix_nano > LONG_MAX:
                return too_big(f"exemplars[{index}].time_unix_nano", exemplar.time_unix_nano, "LONG",
                                LONG_MAX)
            if exemplar.WhichOneof("value") == "as_int" and float(exemplar.as_int) != exemplar.as_int:
                return inexact(f"exemplars[{index}]", exemplar.as_int)
        return None

    def add_all(self, lists: list[Any]) -> bool:
        """``add`` for each point's exemplar list, column by column with C loops. Returns
        False, having added nothing, when one has a :meth:`problem` (go point by point)."""
        if not any(lists):
            self.offsets.extend([self.offsets[-1]] * len(lists))
            return True
        exemplars = list(chain.from_iterable(map(EVERYTHING, filter(None, lists))))
        times = list(map(TIME, exemplars))
        values = number_values(exemplars)
        if values is None or max(times) > LONG_MAX:
            return False
        self.time.extend(times)
        self.value.extend(values)
        self.span_id.extend(map(hex_id, map(SPAN_ID, exemplars)))
        self.trace_id.extend(map(hex_id, map(TRACE_ID, exemplars)))
        self.attributes.add_all(map(FILTERED_ATTRIBUTES, exemplars))
        extend_offsets(self.offsets, lists)
        return True

    def add(self, exemplars: Any) -> None:
        for exemplar in exemplars:
            kind = exemplar.WhichOneof("value")
            self.time.append(exemplar.time_unix_nano)
            self.value.append(exemplar.as_double if kind == "as_double"
                              else float(exemplar.as_int) if kind == "as_int" else None)
            self.span_id.append(hex_id(exemplar.span_id))
            self.trace_id.append(hex_id(exemplar.trace_id))
            self.attributes.add(exemplar.filtered_attributes)
        self.offsets.append(len(self.time))

    def array(self, list_type: pa.ListType) -> pa.Array:
        element = list_type.value_type
        return list_of(list_type, self.offsets, {
            "time_unix_nano": self.time, "value": self.value, "span_id": self.span_id,
            "trace_id": self.trace_id,
            "filtered_attributes": self.attributes.array(element.field("filtered_attributes").type)})


# ---------------------------------------------------------------------------------------------


class PointKind:
    """Columns every point kind has; subclasses read points in ``_add_columns`` / ``_add_each``."""

    def __init__(self, struct_type: pa.StructType, cache: AttributeCache) -> None:
        self.type = struct_type
        self.start: list[int] = []
        self.time: list[int] = []
        self.flags: list[int] = []
        self.temporality = PerMetric()
        self.attributes = Maps(cache)
        self.exemplars = _Exemplars(cache)

    @property
    def size(self) -> int:
        return len(self.time)

    def add_metrics(self, datas: list[Any], reject_at: Callable[[int], Reject]) -> list[int]:
        """Append the points of several metrics of this kind (in order) that fit; returns how
        many points of each were accepted. ``reject_at(i)`` rejects points of ``datas[i]``.

        Why all metrics at once: exporters often send one point per metric (telemetrygen: 100
        metrics of one point each), and one C loop over all of a request's points costs what
        one loop per metric costs. Only when a value somewhere needs rejecting does it go
        metric by metric, and within that metric point by point.
        """
        lists = [data.data_points[:] for data in datas]
        if self._add_columns(list(chain.from_iterable(lists))):
            accepted = list(map(len, lists))
        else:
            accepted = []
            for position, points in enumerate(lists):
                before = self.size
                if not self._add_columns(points):
                    self._add_each(points, reject_at(position))
                accepted.append(self.size - before)
        for data, count in zip(datas, accepted, strict=True):
            self._add_per_metric(data, count)
        return accepted

    def _add_columns(self, points: list[Any]) -> bool:
        """All ``points`` column by column with C loops (``map``), when every value fits.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        raise NotImplementedError

    def _add_each(self, points: list[Any], reject: Reject) -> None:
        """Point by point, rejecting those that hold a value no column can."""
        raise NotImplementedError

    def _add_per_metric(self, data: Any, accepted: int) -> None:
        """Fields held once per metric (temporality, monotonicity) for its ``accepted`` points."""

    @staticmethod
    def _common_columns(points: list[Any]) -> tuple[list[int], list[int], list[int]] | None:
        """Start times, times and flags of ``points`` (C loops), or None if one is out of range."""
        starts, times, flags = list(map(START, points)), list(map(TIME, points)), list(map(FLAGS, points))
        if points and (max(starts) > LONG_MAX or max(times) > LONG_MAX or max(flags) > INT_MAX):
            return None
        return starts, times, flags

    def _extend_common(self, common: tuple[list[int], list[int], list[int]], points: list[Any]) -> None:
        """Add what :meth:`_common_columns` read, and the attributes, of accepted ``points``."""
        self.start.extend(common[0])
        self.time.extend(common[1])
        self.flags.extend(common[2])
        self.attributes.add_all(map(ATTRIBUTES, points))

    @staticmethod
    def _common_problem(point: Any) -> str | None:
        """Slow path, reached only when a range check failed: say which field."""
        return first_too_big(point, POINT_LONGS, POINT_INTS)

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
        return assemble(self.type, self.children())


class _Number(PointKind):
    """Gauge and sum points (``NumberDataPoint``); sums add temporality and monotonicity."""

    def __init__(self, struct_type: pa.StructType, cache: AttributeCache) -> None:
        super().__init__(struct_type, cache)
        self.value: list[float | None] = []
        self.monotonic = PerMetric()
        self.is_sum = "is_monotonic" in struct_type.names

    def _add_per_metric(self, data: Any, accepted: int) -> None:
        if self.is_sum:
            self._add_temporality(data, accepted)
            self.monotonic.add(data.is_monotonic, accepted)

    def _add_columns(self, points: list[Any]) -> bool:
        """The common case column by column, with C loops (``map``) instead of a Python loop
        per point: every field in range, every ``as_int`` exact.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        common = self._common_columns(points)
        if common is None:
            return False
        values = number_values(points)
        if values is None or not self.exemplars.add_all(list(map(EXEMPLARS, points))):
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
                    reject(index, inexact("value", point.as_int))
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


class _Histogram(PointKind):
    """Histogram and exponential histogram points: count, optional sum/min/max, buckets."""

    def __init__(self, struct_type: pa.StructType, cache: AttributeCache) -> None:
        super().__init__(struct_type, cache)
        self.count: list[int] = []
        self.sum: list[float | None] = []
        self.min: list[float | None] = []
        self.max: list[float | None] = []
        self.bucket_counts = Lists()
        self.explicit_bounds = Lists()
        self.scale: list[int] = []
        self.zero_count: list[int] = []
        self.zero_threshold: list[float] = []
        self.offsets: dict[str, list[int]] = {"positive": [], "negative": []}
        self.buckets: dict[str, Lists] = {"positive": Lists(), "negative": Lists()}
        self.exponential = "scale" in struct_type.names

    def _problem(self, point: Any) -> str:
        """Slow path, reached only when a range check failed: say which field."""
        if point.count > LONG_MAX:
            return too_big("count", point.count, "LONG", LONG_MAX)
        if self.exponential:
            if point.zero_count > LONG_MAX:
                return too_big("zero_count", point.zero_count, "LONG", LONG_MAX)
            problem = (counts_problem("positive.bucket_counts", point.positive.bucket_counts)
                       or counts_problem("negative.bucket_counts", point.negative.bucket_counts))
        else:
            problem = counts_problem("bucket_counts", point.bucket_counts)
        problem = problem or self._common_problem(point) or _Exemplars.problem(point.exemplars)
        assert problem, "a range check failed without a reason"
        return problem

    def _add_per_metric(self, data: Any, accepted: int) -> None:
        self._add_temporality(data, accepted)

    def _add_columns(self, points: list[Any]) -> bool:
        """All points column by column with C loops, as :meth:`_Number._add_columns` does.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        common = self._common_columns(points)
        if common is None:
            return False
        counts = list(map(COUNT, points))
        if counts and max(counts) > LONG_MAX:
            return False
        if self.exponential:
            positives, negatives = list(map(POSITIVE, points)), list(map(NEGATIVE, points))
            bucket_lists = (list(map(EVERYTHING, map(BUCKET_COUNTS, positives))),
                            list(map(EVERYTHING, map(BUCKET_COUNTS, negatives))))
            zero_counts = list(map(ZERO_COUNT, points))
            if zero_counts and max(zero_counts) > LONG_MAX:
                return False
        else:
            bucket_lists = (list(map(EVERYTHING, map(BUCKET_COUNTS, points))),)
        if (max(chain.from_iterable(chain.from_iterable(bucket_lists)), default=0) > LONG_MAX
                or not self.exemplars.add_all(list(map(EXEMPLARS, points)))):
            return False
        self._extend_common(common, points)
        self.count.extend(counts)
        for field, column in (("sum", self.sum), ("min", self.min), ("max", self.max)):
            column.extend(optional(points, field))
        if self.exponential:
            self.scale.extend(map(SCALE, points))
            self.zero_count.extend(zero_counts)
            self.zero_threshold.extend(map(ZERO_THRESHOLD, points))
            for side, buckets, lists in zip(("positive", "negative"), (positives, negatives), bucket_lists,
                                            strict=True):
                self.offsets[side].extend(map(OFFSET, buckets))
                self.buckets[side].add_all(lists)
        else:
            self.bucket_counts.add_all(bucket_lists[0])
            self.explicit_bounds.add_all(list(map(EVERYTHING, map(EXPLICIT_BOUNDS, points))))
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
                children[f"{side}_bucket"] = assemble(bucket_type, {
                    "offset": self.offsets[side],
                    "bucket_counts": self.buckets[side].array(bucket_type.field("bucket_counts").type)})
        else:
            children.update(
                bucket_counts=self.bucket_counts.array(self.type.field("bucket_counts").type),
                explicit_bounds=self.explicit_bounds.array(self.type.field("explicit_bounds").type))
        return children


class _Summary(PointKind):
    def __init__(self, struct_type: pa.StructType, cache: AttributeCache) -> None:
        super().__init__(struct_type, cache)
        self.count: list[int] = []
        self.sum: list[float] = []
        self.quantile_offsets = [0]
        self.quantile: list[float] = []
        self.quantile_value: list[float] = []

    def _add_columns(self, points: list[Any]) -> bool:
        """All points column by column with C loops, as :meth:`_Number._add_columns` does.
        Returns False, having added nothing, when the points need :meth:`_add_each`."""
        common = self._common_columns(points)
        counts = list(map(COUNT, points))
        if common is None or (counts and max(counts) > LONG_MAX):
            return False
        self._extend_common(common, points)
        self.count.extend(counts)
        self.sum.extend(map(SUM, points))
        quantile_lists = list(map(EVERYTHING, map(QUANTILE_VALUES, points)))
        quantiles = list(chain.from_iterable(quantile_lists))
        self.quantile.extend(map(QUANTILE, quantiles))
        self.quantile_value.extend(map(VALUE, quantiles))
        extend_offsets(self.quantile_offsets, quantile_lists)
        return True

    def _add_each(self, points: list[Any], reject: Reject) -> None:
        """Point by point, rejecting those that hold a value no column can."""
        quantiles, values, quantile_offsets = (self.quantile.append, self.quantile_value.append,
                                               self.quantile_offsets.append)
        for index, point in enumerate(points):
            start, time, flags, count = (point.start_time_unix_nano, point.time_unix_nano, point.flags,
                                         point.count)
            if start > LONG_MAX or time > LONG_MAX or flags > INT_MAX or count > LONG_MAX:
                reject(index, self._common_problem(point) or too_big("count", count, "LONG", LONG_MAX))
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
                "quantile_values": list_of(self.type.field("quantile_values").type, self.quantile_offsets,
                                            {"quantile": self.quantile, "value": self.quantile_value})}


KIND_BUILDERS: dict[str, Callable[[pa.StructType, AttributeCache], PointKind]] = {
    "gauge": _Number, "sum": _Number, "histogram": _Histogram,
    "exponential_histogram": _Histogram, "summary": _Summary}


