"""The hypothesis properties of the OTLP -> Delta mapping, rerun through the Spark engine.

Same property bodies as ``test_otlp_properties.py`` (``check_round_trip``), fewer examples:
each example creates a table from the documented DDL in Spark, appends the mapped rows
through Delta's schema enforcement and reads them back with Spark.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings

from gateway_conformance.otlp.signals import KINDS, Signal
from gateway_conformance.tables.spark import SparkDeltaWriter
from gateway_conformance.tables.writer import TableName
from test_otlp_properties import STRATEGIES, WriteAndRead, canonical, check_round_trip

pytestmark = pytest.mark.gwc_spark

SPARK = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


def in_written_order(read: pa.Table, written: pa.Table) -> pa.Table:
    """``read`` reordered like ``written``: a Delta table has no row order, Spark reads files in any.

    Rows are matched by value; rows of ``read`` that match nothing keep their place at the
    end, so a difference still fails the comparison.
    """
    positions: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(read.to_pylist()):
        positions[repr(canonical(row))].append(index)
    order = [positions[key].pop(0) for key in (repr(canonical(row)) for row in written.to_pylist())
             if positions[key]]
    rest = sorted(set(range(read.num_rows)) - set(order))
    return read.take(pa.array(order + rest, pa.int64()))


def spark_write_and_read(writer: SparkDeltaWriter, signal: Signal) -> WriteAndRead:
    def write_and_read(table: pa.Table) -> pa.Table:
        name = TableName("main", "props", f"t{uuid.uuid4().hex[:12]}")
        writer.create_table(name, KINDS[signal])
        writer.append(name, table)
        assert writer.properties(name)["otel.schemaVersion"] == "v1"
        return in_written_order(writer.read(name), table)
    return write_and_read


@pytest.mark.parametrize("signal", ["metrics", "logs", "spans"])
def test_rows_read_back_from_spark_equal_rows_written(signal: Signal, gwc_spark, tmp_path: Path) -> None:
    writer = SparkDeltaWriter(tmp_path, spark=gwc_spark)
    write_and_read = spark_write_and_read(writer, signal)

    @SPARK
    @given(STRATEGIES[signal](out_of_range=True))
    def prop(request: Message) -> None:
        check_round_trip(signal, request, write_and_read)

    prop()
