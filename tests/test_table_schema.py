"""The DDL-derived Arrow schema: every documented column, the documented types, nothing restated."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from deltalake import DeltaTable

from gateway_conformance.otlp.signals import KINDS, SIGNALS
from gateway_conformance.resources import schema_file
from gateway_conformance.tables import schema
from gateway_conformance.tables.writer import TableName

# Delta's (and Spark's) JSON names for the DDL types: an oracle independent of sqlglot and pyarrow.
_DELTA_TYPE = {"STRING": "string", "LONG": "long", "BIGINT": "long", "INT": "integer",
               "DOUBLE": "double", "BOOLEAN": "boolean"}


def _top_level_columns(signal: str) -> list[tuple[str, str]]:
    """(name, leading type word) of each column, read with a regex instead of sqlglot."""
    text = schema_file(KINDS[signal]).read_text()
    return re.findall(r"^  (\w+) (\w+)", text, flags=re.MULTILINE)


@pytest.mark.parametrize("signal", SIGNALS)
def test_every_documented_column_in_order(signal: str) -> None:
    expected = [name for name, _ in _top_level_columns(signal)]
    assert expected, "regex found no columns: the fixture changed shape"
    assert schema.arrow_schema(KINDS[signal]).names == expected
    assert schema.column_names(KINDS[signal]) == tuple(expected)


def _all_fields(fields: Iterator[pa.Field] | pa.Schema) -> Iterator[pa.Field]:
    for field in fields:
        yield field
        kind = field.type
        if pa.types.is_struct(kind):
            yield from _all_fields(kind.fields)
        elif pa.types.is_map(kind):
            yield from _all_fields([kind.item_field])
        elif pa.types.is_list(kind):
            yield from _all_fields([kind.value_field])


@pytest.mark.parametrize("signal", SIGNALS)
def test_every_field_nullable_and_strings_plain(signal: str) -> None:
    fields = list(_all_fields(schema.arrow_schema(KINDS[signal])))
    assert len(fields) > 15
    for field in fields:
        assert field.nullable, field
        assert not pa.types.is_large_string(field.type), field
        if pa.types.is_map(field.type):
            assert field.type.key_type == pa.string() and field.type.item_type == pa.string()
            assert field.type.item_field.nullable


def test_spot_checked_types() -> None:
    metrics = schema.arrow_schema("otel_metrics")
    expo = metrics.field("exponential_histogram").type
    assert expo.field("positive_bucket").type.field("bucket_counts").type.value_type == pa.int64()
    assert expo.field("scale").type == pa.int32()
    assert metrics.field("sum").type.field("is_monotonic").type == pa.bool_()
    summary_quantiles = metrics.field("summary").type.field("quantile_values").type.value_type
    assert summary_quantiles == pa.struct([("quantile", pa.float64()), ("value", pa.float64())])
    logs = schema.arrow_schema("otel_logs")
    assert logs.field("observed_time_unix_nano").type == pa.int64()
    assert logs.field("flags").type == pa.int32()
    assert logs.field("attributes").type == pa.map_(pa.string(), pa.string())
    spans = schema.arrow_schema("otel_spans")
    assert spans.field("status").type == pa.struct([("message", pa.string()), ("code", pa.string())])


@pytest.mark.parametrize("signal", SIGNALS)
def test_delta_schema_spells_the_ddl_types(signal: str, tmp_path: Path) -> None:
    """delta-rs turns the Arrow schema into the Delta types the DDL names, column by column."""
    table = DeltaTable.create(str(tmp_path), schema=schema.arrow_schema(KINDS[signal]),
                              configuration=schema.table_properties(KINDS[signal]),
                              raise_if_key_not_exists=False)
    delta_fields = json.loads(table.schema().to_json())["fields"]
    for (name, ddl_type), delta_field in zip(_top_level_columns(signal), delta_fields, strict=True):
        assert delta_field["name"] == name
        if ddl_type in _DELTA_TYPE:
            assert delta_field["type"] == _DELTA_TYPE[ddl_type], name
        else:
            assert delta_field["type"]["type"] == ddl_type.lower(), name
    assert table.metadata().configuration == {"otel.schemaVersion": "v1"}
    assert pa.schema(table.schema().to_arrow()) == schema.arrow_schema(KINDS[signal])


@pytest.mark.parametrize("signal", SIGNALS)
def test_table_properties(signal: str) -> None:
    assert schema.table_properties(KINDS[signal]) == {"otel.schemaVersion": "v1"}


@pytest.mark.parametrize("signal", SIGNALS)
def test_ddl_fills_placeholders_and_reparses_to_same_schema(signal: str) -> None:
    text = schema.ddl(KINDS[signal], "main", "telemetry", "team_a")
    assert f"CREATE TABLE main.telemetry.team_a_otel_{signal} (" in text
    assert "<" not in text.split("(", 1)[0]
    tree = sqlglot.parse_one(text, dialect="databricks")
    assert tree.this.this.sql() == f"main.telemetry.team_a_otel_{signal}"
    # The body is the documented one, byte for byte.
    assert text.split("(", 1)[1] == schema_file(KINDS[signal]).read_text().split("(", 1)[1]


def test_ddl_for_table_and_default_table() -> None:
    text = schema.ddl_for_table("otel_spans", "otel.agents_otel_spans")
    assert text.startswith("CREATE TABLE otel.agents_otel_spans (")
    assert schema.default_table("otel_logs", "c", "s", "p") == TableName("c", "s", "p_otel_logs")
    assert schema.table_suffix("otel_metrics") == "_otel_metrics"


@pytest.mark.parametrize("bad", ["", "a-b", "1abc", "x;DROP", "a b"])
def test_ddl_rejects_non_identifiers(bad: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        schema.ddl("otel_logs", "main", bad, "p")
    with pytest.raises(ValueError, match="identifier"):
        schema.ddl_for_table("otel_logs", f"main.{bad}.t")


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match=r"unknown table kind 'events'; expected one of .*otel_metrics"):
        schema.arrow_schema("events")
    with pytest.raises(ValueError, match="unknown table kind"):
        schema.arrow_schema("../otel_logs")


def test_infer_kind() -> None:
    for signal in SIGNALS:
        assert schema.infer_kind(schema.arrow_schema(KINDS[signal])) == KINDS[signal]
    logs = schema.arrow_schema("otel_logs")
    assert schema.infer_kind(pa.schema(list(logs)[:-1])) is None
    assert schema.infer_kind(logs.append(pa.field("extra", pa.string()))) is None
    retyped = logs.set(logs.get_field_index("flags"), pa.field("flags", pa.string()))
    assert schema.infer_kind(retyped) is None  # documented names, other types: not documented


def test_declared_properties_keep_only_the_ddl_keys() -> None:
    configuration = {"otel.schemaVersion": "v2", "delta.minReaderVersion": "1", "other": "x"}
    assert schema.declared_properties("otel_logs", configuration) == {"otel.schemaVersion": "v2"}
    assert schema.declared_properties("otel_logs", {}) == {}
    assert schema.declared_properties(None, configuration) == {}


def test_cached_per_request_calls() -> None:
    assert schema.arrow_schema("otel_metrics") is schema.arrow_schema("otel_metrics")
    assert schema.table_properties("otel_logs") is schema.table_properties("otel_logs")


def test_unsupported_ddl_type_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "otel_logs.sql").write_text(
        "CREATE TABLE <catalog>.<schema>.<table_prefix>_otel_logs (\n"
        "  event_name STRING,\n  at STRUCT<when: BINARY>\n) USING DELTA")
    monkeypatch.setattr(schema, "schema_file", lambda kind: tmp_path / "schemas" / f"{kind}.sql")
    for cached in (schema.ddl_template, schema._parsed, schema.arrow_schema):
        cached.cache_clear()
    try:
        with pytest.raises(schema.SchemaError, match=r"column at\.when: unsupported DDL type BINARY"):
            schema.arrow_schema("otel_logs")
    finally:
        for cached in (schema.ddl_template, schema._parsed, schema.arrow_schema):
            cached.cache_clear()
