"""The mapping's column-by-column fast paths give exactly the rows of its point-by-point path.

``otlp.rows`` maps a metric's points column by column when it can (every value in range),
and point by point otherwise; the point-by-point path is the plain reading of the
documented rules. These properties pin the two together on random requests, so a fast
path can only be as right as the slow one (which ``test_otlp_properties`` checks against
the documentation).
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import NumberDataPoint

from gateway_conformance.otlp import points, ranges, rows
from gateway_conformance.otlp import strategies as otlp_st
from gateway_conformance.tables.delta import has_offsets

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
COLUMN_PATHS = (points._Number, points._Histogram, points._Summary)


def exact(table: pa.Table) -> str:
    """Every value, with NaN, -0.0 and NULL told apart (``repr`` spells each its own way)."""
    return repr(table.to_pylist())


def map_point_by_point(body: bytes) -> rows.MappedRows:
    with mock.patch.multiple(points._Number, _add_columns=lambda self, points: False), \
            mock.patch.multiple(points._Histogram, _add_columns=lambda self, points: False), \
            mock.patch.multiple(points._Summary, _add_columns=lambda self, points: False):
        return rows.map_protobuf("metrics", body)


def test_column_paths_give_the_rows_of_the_point_by_point_path() -> None:
    taken = {"columns": 0}
    originals = {kind: kind._add_columns for kind in COLUMN_PATHS}

    def counting(kind: type) -> Any:
        def add_columns(self: Any, points: list[Any]) -> bool:
            done = originals[kind](self, points)
            taken["columns"] += bool(done and points)
            return done
        return add_columns

    @FAST
    @given(st.one_of(otlp_st.export_metrics_requests(), otlp_st.export_metrics_requests(out_of_range=True)))
    def prop(request: ExportMetricsServiceRequest) -> None:
        body = request.SerializeToString()
        with mock.patch.multiple(points._Number, _add_columns=counting(points._Number)), \
                mock.patch.multiple(points._Histogram, _add_columns=counting(points._Histogram)), \
                mock.patch.multiple(points._Summary, _add_columns=counting(points._Summary)):
            fast = rows.map_protobuf("metrics", body)
        slow = map_point_by_point(body)
        assert exact(fast.table) == exact(slow.table)
        assert (fast.rejected, fast.error_message) == (slow.rejected, slow.error_message)
        assert fast.table.schema == slow.table.schema
        assert not any(has_offsets(column.chunk(0)) for column in fast.table.columns if column.num_chunks)

    prop()
    assert taken["columns"], "no example took a column-by-column path"


_DOUBLE_EXACT = 1 << 53
_NONZERO = st.floats().filter(bool)  # NaN included; weighted so zeros are sometimes few
_values = st.one_of(
    _NONZERO, _NONZERO, _NONZERO, st.none(), st.sampled_from([0.0, -0.0]),
    st.sampled_from([0, _DOUBLE_EXACT + 1, -_DOUBLE_EXACT]), st.integers(-(1 << 63), (1 << 63) - 1))


@settings(FAST, max_examples=300)
@given(st.lists(_values, max_size=16))
@example([1.5, math.nan, 2.5, None])  # a few zeros: asked one by one
@example([1.5, 2.5, 3.5, -0.0, 0])
@example([1.5, 2.5, 3.5, -7])
@example([1.5, 2.5, 3.5, _DOUBLE_EXACT + 1])
@example([None, None, 0, 0.0])  # many zeros: asked in bulk
@example([None, 1, -0.0, 0])
@example([7, -3, _DOUBLE_EXACT + 1])
def test_number_values_match_a_point_by_point_reading(values: list[float | int | None]) -> None:
    """Few zeros, many zeros, ints, unset: every branch of ``_number_values`` against the rule."""
    points = []
    for value in values:
        point = NumberDataPoint()
        if isinstance(value, float):
            point.as_double = value
        elif isinstance(value, int):
            point.as_int = value
        points.append(point)
    expected: list[float | None] | None = []
    for value in values:
        if isinstance(value, int) and float(value) != value:
            expected = None  # the caller goes point by point and rejects just that one
            break
        expected.append(None if value is None else float(value))
    assert repr(ranges.number_values(points)) == repr(expected)
