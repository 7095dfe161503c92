"""OTLP metrics -> rows of the metrics table: one row per data point, of all five kinds."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pyarrow as pa

from gateway_conformance.otlp.columns import AttributeCache, Maps, arrow_table
from gateway_conformance.otlp.context import MappedRows, Runs, Scopes
from gateway_conformance.otlp.points import KIND_BUILDERS, PointKind
from gateway_conformance.otlp.signals import KINDS
from gateway_conformance.tables.schema import arrow_schema

METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def map_metrics_request(request: Any) -> MappedRows:
    """Three passes: walk the request, map each kind's points all at once, lay the rows out
    in request order (why all at once: :meth:`PointKind.add_metrics`)."""
    schema = arrow_schema(KINDS["metrics"])
    cache = AttributeCache()
    walker = Scopes(schema, cache, "data points")
    kinds = {kind: KIND_BUILDERS[kind](schema.field(kind).type, cache) for kind in METRIC_KINDS}
    of_kind: dict[str, list[_Metric]] = {kind: [] for kind in METRIC_KINDS}
    in_order: list[_Metric] = []
    order = itertools.count()  # request order of every metric with data, for the first rejection's reason

    for where, scope_problem, scope_metrics in walker.walk(
            request.resource_metrics, "resource_metrics", "scope_metrics"):
        here = walker.here()
        for m, metric in enumerate(scope_metrics.metrics):
            kind = metric.WhichOneof("data")
            if kind is None:
                continue  # a metric without data has no data points, hence no rows
            data = getattr(metric, kind)
            where_metric = partial(_where, where, m, metric.name, kind)
            entry = _Metric(kind, metric, data, here, where_metric, next(order))
            if scope_problem:
                reject = walker.rejections.at(entry.where, entry.order)
                for index in range(len(data.data_points)):
                    reject(index, scope_problem)
                continue
            of_kind[kind].append(entry)
            in_order.append(entry)

    for kind, entries in of_kind.items():
        accepted = kinds[kind].add_metrics(
            [entry.data for entry in entries],
            lambda position, entries=entries: walker.rejections.at(entries[position].where,
                                                                   entries[position].order))
        for entry, count in zip(entries, accepted, strict=True):
            entry.accepted = count

    per_metric: dict[str, list[str]] = {"name": [], "description": [], "unit": [], "metric_type": []}
    metadata = Maps(cache)
    segments: list[tuple[str, int, int]] = []  # (kind, first dense index, rows)
    metric_rows = Runs()
    dense = dict.fromkeys(METRIC_KINDS, 0)
    for entry in in_order:
        if entry.accepted:
            metric, kind = entry.metric, entry.kind
            metric_rows.add(len(per_metric["name"]), entry.accepted)
            per_metric["name"].append(metric.name)
            per_metric["description"].append(metric.description)
            per_metric["unit"].append(metric.unit)
            per_metric["metric_type"].append(kind)
            metadata.add(metric.metadata)
            segments.append((kind, dense[kind], entry.accepted))
            walker.rows(entry.accepted, entry.here)
        dense[entry.kind] += entry.accepted

    rows = metric_rows.rows
    columns: dict[str, list[Any] | pa.Array] = {
        name: metric_rows.spread(pa.array(values, pa.string())) for name, values in per_metric.items()}
    columns["metadata"] = metric_rows.spread(metadata.array(schema.field("metadata").type))
    for kind, builder in kinds.items():
        columns[kind] = _kind_column(kind, builder, segments, rows)
    columns.update(walker.columns("metric_schema_url"))
    return walker.rejections.result(arrow_table(schema, columns))


@dataclass(slots=True)
class _Metric:
    """One metric with data, as the walk found it; ``accepted`` is filled in by its kind."""

    kind: str
    metric: Any
    data: Any
    here: tuple[int, int]
    where: Callable[[], str]
    order: int
    accepted: int = 0


def _where(scope: str, index: int, name: str, kind: str) -> str:
    """A metric's data points' path, as a rejection names it."""
    return f"{scope}.metrics[{index}] ({name!r}) {kind}.data_points"


def _kind_column(kind: str, builder: PointKind, segments: list[tuple[str, int, int]], rows: int) -> pa.Array:
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


