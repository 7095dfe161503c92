"""OTLP metrics -> rows of the metrics table: one row per data point, of all five kinds."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from gateway_conformance.otlp.columns import AttributeCache, Maps, arrow_table
from gateway_conformance.otlp.context import MappedRows, Runs, Scopes, spread
from gateway_conformance.otlp.points import KIND_BUILDERS, PointKind
from gateway_conformance.otlp.signals import KINDS
from gateway_conformance.tables.schema import arrow_schema

METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def map_metrics_request(request: Any) -> MappedRows:
    schema = arrow_schema(KINDS["metrics"])
    cache = AttributeCache()
    walker = Scopes(schema, cache, "data points")
    kinds = {kind: KIND_BUILDERS[kind](schema.field(kind).type, cache) for kind in METRIC_KINDS}
    per_metric: dict[str, list[str]] = {"name": [], "description": [], "unit": [], "metric_type": []}
    metadata = Maps(cache)
    segments: list[tuple[str, int, int]] = []  # (kind, first dense index, rows)
    metric_rows = Runs()

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
        name: spread(pa.array(values, pa.string()), metric_indices) for name, values in per_metric.items()}
    columns["metadata"] = spread(metadata.array(schema.field("metadata").type), metric_indices)
    for kind, builder in kinds.items():
        columns[kind] = _kind_column(kind, builder, segments, rows)
    columns.update(walker.columns("metric_schema_url"))
    return walker.rejections.result(arrow_table(schema, columns))


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


