"""OTLP logs -> rows of the logs table: one row per log record."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from gateway_conformance.otlp.columns import AttributeCache, Maps, arrow_table
from gateway_conformance.otlp.context import MappedRows, Scopes
from gateway_conformance.otlp.ranges import first_too_big
from gateway_conformance.otlp.signals import KINDS
from gateway_conformance.otlp.values import SEVERITY_NAMES, any_value_text, enum_text, hex_id
from gateway_conformance.tables.schema import arrow_schema

_RECORD_LONGS = ("time_unix_nano", "observed_time_unix_nano")
_RECORD_INTS = ("dropped_attributes_count", "flags")


def map_logs_request(request: Any) -> MappedRows:
    schema = arrow_schema(KINDS["logs"])
    cache = AttributeCache()
    walker = Scopes(schema, cache, "log records")
    plain: dict[str, list[Any]] = {name: [] for name in (
        "event_name", "trace_id", "span_id", "time_unix_nano", "observed_time_unix_nano",
        "severity_number", "severity_text", "body", "dropped_attributes_count", "flags")}
    attributes = Maps(cache)

    for where, scope_problem, scope_logs in walker.walk(
            request.resource_logs, "resource_logs", "scope_logs"):
        accepted = 0
        for i, record in enumerate(scope_logs.log_records):
            problem = scope_problem or first_too_big(record, _RECORD_LONGS, _RECORD_INTS)
            if problem:
                walker.rejections.add(f"{where}.log_records[{i}]", problem)
                continue
            accepted += 1
            plain["event_name"].append(record.event_name)
            plain["trace_id"].append(hex_id(record.trace_id))
            plain["span_id"].append(hex_id(record.span_id))
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
    return walker.rejections.result(arrow_table(schema, columns))


