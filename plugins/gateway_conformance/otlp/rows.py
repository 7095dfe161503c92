"""OTLP export requests -> Arrow tables in exactly the documented tables' schemas.

One row per metric data point (all five kinds), per log record, per span. The encodings
the documentation leaves open are decided in ``docs/otlp-mapping.md``; in short:

* AnyValue -> STRING: string as-is; bool ``true``/``false``; int in decimal; double as the
  shortest round-trip text (``NaN``, ``Infinity``, ``-Infinity``); bytes in base64;
  array and kvlist as compact JSON; no value -> NULL.
* A repeated attribute key keeps its first position and its last value.
* Enums by their proto name (``SEVERITY_NUMBER_INFO``, ``AGGREGATION_TEMPORALITY_DELTA``,
  ``SPAN_KIND_SERVER``, ``STATUS_CODE_OK``); a number unknown to this build as decimal text.
* Trace and span ids in lowercase hex; an empty id is NULL.
* NULL means "absent" in OTLP: an unset optional or oneof, an empty id or AnyValue, and
  the point-kind structs of a metric row that belong to other kinds. Plain proto3 fields
  (strings, numbers, sub-messages) keep their default values: "" and 0 stay "" and 0.
* A value no column can hold (a fixed64 above the LONG range, a uint32 above INT, an
  ``as_int`` that DOUBLE cannot hold exactly) rejects its data point, log record or span
  through OTLP partial success; it is never wrapped or rounded.

Speed: the mapping, not protobuf parsing, is the cost of ingestion. Requests are read
through the lazy twins of :func:`~gateway_conformance.otlp.decode.decode_protobuf_lazy`,
so each distinct attribute list is converted once per request. A metric's points are read
column by column with C-level ``map`` loops (a Python loop per point and field costs more
than upb's parse); a metric holding a value to reject goes point by point instead, the
plain reading of the rules, and ``tests/test_otlp_fast_paths.py`` holds the two paths
equal. Columns are built as Python lists and turned into one Arrow array each;
per-metric, per-scope and per-resource values are built once and spread over their rows
with ``take`` by indices that Arrow expands from runs. Every array is fresh, never a
slice (delta-rs aborts the process on sliced structs holding lists or maps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from gateway_conformance.otlp.context import MappedRows
from gateway_conformance.otlp.decode import PROTOBUF, DecodeError, decode, decode_protobuf_lazy
from gateway_conformance.otlp.logs import map_logs_request
from gateway_conformance.otlp.metrics import map_metrics_request
from gateway_conformance.otlp.signals import SIGNALS, Signal
from gateway_conformance.otlp.spans import map_spans_request

__all__ = ["MappedRows", "map_body", "map_logs", "map_metrics", "map_protobuf",
           "map_request", "map_spans"]

_MAPPERS: dict[Signal, Callable[[Any], MappedRows]] = {
    "metrics": map_metrics_request, "logs": map_logs_request, "spans": map_spans_request}


def map_protobuf(signal: Signal, body: bytes) -> MappedRows:
    """Rows of a binary protobuf export request: the sink's fast path (no full parse first).

    Raises :class:`~gateway_conformance.otlp.decode.DecodeError` for a malformed body,
    including a malformed attribute or log body found while mapping.
    """
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; expected one of {', '.join(SIGNALS)}")
    request = decode_protobuf_lazy(signal, body)
    try:
        return _MAPPERS[signal](request)
    except ProtobufDecodeError as error:
        raise DecodeError(f"malformed protobuf {request.DESCRIPTOR.name} (an attribute or body): "
                          f"{error}") from None


def map_body(signal: Signal, body: bytes, media_type: str) -> MappedRows:
    """Rows of an OTLP/HTTP body of the bare ``media_type``: what the sink calls per request.

    Protobuf takes the fast path of :func:`map_protobuf`; OTLP/JSON is decoded, then mapped.
    Raises ``DecodeError`` (400) or ``UnsupportedMediaType`` (415) from
    :mod:`~gateway_conformance.otlp.decode`.
    """
    if media_type == PROTOBUF:
        return map_protobuf(signal, body)
    return map_request(signal, decode(signal, body, media_type))


def map_request(signal: Signal, request: Message) -> MappedRows:
    """Rows of a parsed export request of ``signal`` (``metrics``, ``logs`` or ``spans``),
    e.g. one decoded from OTLP/JSON."""
    return map_protobuf(signal, request.SerializeToString())


def map_metrics(request: Message) -> MappedRows:
    """Rows of an ``ExportMetricsServiceRequest``: one per data point of every kind."""
    return map_request("metrics", request)


def map_logs(request: Message) -> MappedRows:
    """Rows of an ``ExportLogsServiceRequest``: one per log record."""
    return map_request("logs", request)


def map_spans(request: Message) -> MappedRows:
    """Rows of an ``ExportTraceServiceRequest``: one per span."""
    return map_request("spans", request)
