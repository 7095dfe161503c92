"""delta-rs and Spark on the same tables: each appends to the other's, both read the same rows,
and both write the same Delta schema for the documented DDL.

Both writers keep ``catalog.schema.table`` at ``<tables_dir>/<catalog>/<schema>/<table>``,
so one tables folder serves both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings

from gateway_conformance.otlp.rows import map_request
from gateway_conformance.otlp.signals import KINDS, SIGNALS, Signal
from gateway_conformance.tables.delta import DeltaRsWriter
from gateway_conformance.tables.schema import arrow_schema
from gateway_conformance.tables.spark import SparkDeltaWriter
from gateway_conformance.tables.writer import TableInfo, TableName
from test_otlp_properties import STRATEGIES, canonical

pytestmark = pytest.mark.gwc_spark

CROSS = settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


@pytest.fixture
def engines(gwc_local_spark, tmp_path: Path) -> Iterator[tuple[SparkDeltaWriter, DeltaRsWriter]]:
    spark_writer, rs_writer = SparkDeltaWriter(tmp_path, spark=gwc_local_spark), DeltaRsWriter(tmp_path)
    yield spark_writer, rs_writer
    rs_writer.close()
    spark_writer.close()


def schema_string(path: Path) -> dict:
    """The table schema recorded in the first commit of the Delta log."""
    first = (path / "_delta_log" / "00000000000000000000.json").read_text().splitlines()
    return json.loads(next(json.loads(line)["metaData"]["schemaString"]
                           for line in first if '"metaData"' in line))


def as_multiset(table: pa.Table) -> list[str]:
    return sorted(repr(canonical(row)) for row in table.to_pylist())


def test_delta_rs_writes_the_schema_spark_derives_from_the_ddl(
        engines: tuple[SparkDeltaWriter, DeltaRsWriter]) -> None:
    spark_writer, rs_writer = engines
    for signal in SIGNALS:
        by_spark = TableName("main", "otel", f"spark_otel_{signal}")
        by_rs = TableName("main", "otel", f"rs_otel_{signal}")
        spark_writer.create_table(by_spark, KINDS[signal])
        rs_writer.create_table(by_rs, KINDS[signal])
        spark_struct = json.loads(spark_writer.delta_schema_json(by_spark))
        assert schema_string(rs_writer.table_path(by_rs)) == spark_struct
        assert schema_string(spark_writer.table_path(by_spark)) == spark_struct
        documented = TableInfo(KINDS[signal], {"otel.schemaVersion": "v1"})
        assert spark_writer.table_info(by_rs) == documented  # Spark reads delta-rs's table property
        assert rs_writer.table_info(by_spark) == documented


@pytest.mark.parametrize("signal", ["metrics", "logs", "spans"])
def test_each_engine_appends_to_the_others_table_and_both_read_the_same_rows(
        signal: Signal, engines: tuple[SparkDeltaWriter, DeltaRsWriter]) -> None:
    spark_writer, rs_writer = engines

    @CROSS
    @given(STRATEGIES[signal](), STRATEGIES[signal]())
    def prop(first: Message, second: Message) -> None:
        rows_a, rows_b = map_request(signal, first).table, map_request(signal, second).table
        expected = as_multiset(pa.concat_tables([rows_a, rows_b]))
        for creator, other in ((spark_writer, rs_writer), (rs_writer, spark_writer)):
            name = TableName("main", "cross", f"t{uuid.uuid4().hex[:12]}")
            creator.create_table(name, KINDS[signal])
            other.append(name, rows_a)
            creator.append(name, rows_b)
            by_spark, by_rs = spark_writer.read(name), rs_writer.read(name)
            assert by_spark.schema == by_rs.schema == arrow_schema(KINDS[signal])
            assert as_multiset(by_spark) == as_multiset(by_rs) == expected
            appends = int(rows_a.num_rows > 0) + int(rows_b.num_rows > 0)
            assert DeltaTable(str(rs_writer.table_path(name))).version() == appends  # one commit each

    prop()
