"""The tables layer is generic over table kinds: any DDL file in ``schemas/`` is a kind both
engines create, recognise and append to, without the OTLP package."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from gateway_conformance import resources
from gateway_conformance.tables import schema
from gateway_conformance.tables.delta import DeltaRsWriter
from gateway_conformance.tables.writer import TableInfo, TableName

EVENTS_DDL = """CREATE TABLE <catalog>.<schema>.<table_prefix>_test_events (
  event_id STRING,
  at TIMESTAMP,
  day DATE,
  tokens BIGINT,
  tags MAP<STRING, STRING>
) USING DELTA
TBLPROPERTIES ('test.schemaVersion' = 'v7')
"""
_CACHED = (schema.ddl_template, schema._parsed, schema.arrow_schema, schema.table_properties,
           schema.column_names, schema._by_columns)


@pytest.fixture
def extra_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A schemas folder holding the shipped DDL files plus ``test_events``."""
    folder = tmp_path / "data" / "schemas"
    shutil.copytree(resources.data_dir() / "schemas", folder)
    (folder / "test_events.sql").write_text(EVENTS_DDL)
    monkeypatch.setattr(resources, "data_dir", lambda: folder.parent)
    for cached in _CACHED:
        cached.cache_clear()
    yield "test_events"
    monkeypatch.undo()
    for cached in _CACHED:
        cached.cache_clear()


def test_new_kind_is_listed_and_mapped(extra_kind: str) -> None:
    assert extra_kind in resources.schema_kinds() and "otel_metrics" in resources.schema_kinds()
    arrow = schema.arrow_schema(extra_kind)
    assert arrow.field("at").type == pa.timestamp("us", tz="UTC")
    assert arrow.field("day").type == pa.date32()
    assert schema.table_properties(extra_kind) == {"test.schemaVersion": "v7"}
    assert schema.default_table(extra_kind, "c", "s", "p") == TableName("c", "s", "p_test_events")


def test_delta_rs_writes_a_new_kind(extra_kind: str, tmp_path: Path) -> None:
    writer = DeltaRsWriter(tmp_path / "tables")
    name = schema.default_table(extra_kind, "main", "gw", "team")
    try:
        writer.create_table(name, extra_kind)
        assert writer.table_info(name) == TableInfo(extra_kind, {"test.schemaVersion": "v7"})
        at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        rows = pa.Table.from_pylist([{"event_id": "e1", "at": at, "day": date(2026, 1, 2), "tokens": 7,
                                      "tags": [("k", "v")]}], schema=schema.arrow_schema(extra_kind))
        writer.append(name, rows)
        read = writer.read(name)
        assert read.schema == schema.arrow_schema(extra_kind)
        assert read.to_pylist() == rows.to_pylist()
    finally:
        writer.close()
