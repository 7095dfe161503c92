"""Value encodings: the documented contract of the STRING and MAP columns (docs/otlp-mapping.md).

AnyValue -> text, enums by their proto names, doubles as shortest round-trip text, ids in hex,
and the LONG/INT bounds a value must fit. Public: the mapping and its tests share them.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

LONG_MAX = (1 << 63) - 1
INT_MAX = (1 << 31) - 1


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


def hex_id(raw: bytes) -> str | None:
    return raw.hex() if raw else None


