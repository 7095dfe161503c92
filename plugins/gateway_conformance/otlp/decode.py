"""OTLP/HTTP bodies (binary protobuf and OTLP/JSON) to and from opentelemetry-proto messages.

OTLP/JSON is the protobuf JSON mapping with one exception that protobuf's own
``json_format`` does not know: trace and span ids travel as hex strings, not base64. The
ids are converted by walking the JSON alongside the message descriptors, so only fields
that really are ids (``trace_id``, ``span_id``, ``parent_span_id`` of type bytes) change;
``AnyValue.bytesValue`` stays base64 as the specification says. Everything else is
``json_format``: lowerCamelCase or snake_case keys, enums as integers (or names), 64-bit
integers as decimal strings or numbers, unknown fields ignored.

The row mapping reads protobuf through *lazy* twins of the request types
(:func:`decode_protobuf_lazy`): the same wire format, but every attribute list
(``repeated KeyValue``) and every ``AnyValue`` field outside the AnyValue family is declared
``bytes``. upb then leaves those parts unparsed (parsing is ~8x faster), and the mapping
converts each distinct attribute encoding once per request instead of walking thousands
of identical KeyValue messages through Python.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway_conformance.otlp.signals import SIGNALS, Signal

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)

REQUEST_TYPES: dict[Signal, type[Message]] = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "spans": ExportTraceServiceRequest,
}
RESPONSE_TYPES: dict[Signal, type[Message]] = {
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
    "spans": ExportTraceServiceResponse,
}

_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")


class DecodeError(ValueError):
    """The body is not a valid OTLP export request of the expected signal (HTTP 400)."""


class UnsupportedMediaType(ValueError):
    """The body's media type is neither OTLP/protobuf nor OTLP/JSON (HTTP 415)."""


def _request_type(signal: Signal) -> type[Message]:
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; expected one of {', '.join(SIGNALS)}")
    return REQUEST_TYPES[signal]


def decode_protobuf(signal: Signal, body: bytes) -> Message:
    """Parse a binary protobuf export request; an empty body is an empty request."""
    request_type = _request_type(signal)
    try:
        return request_type.FromString(body)
    except ProtobufDecodeError as error:
        raise DecodeError(f"malformed protobuf {request_type.DESCRIPTOR.name}: {error}") from None


def decode_protobuf_lazy(signal: Signal, body: bytes) -> Message:
    """Parse a binary protobuf export request into its lazy twin (see the module docstring).

    Attribute lists come out as ``repeated bytes`` (each a serialized ``KeyValue``) and
    ``LogRecord.body`` as ``bytes`` (a serialized ``AnyValue``); all else is as usual. Those
    raw parts are checked when the mapping parses them, so a malformed one still fails."""
    lazy_type = _lazy_types()[_request_type(signal).DESCRIPTOR.full_name]
    try:
        return lazy_type.FromString(body)
    except ProtobufDecodeError as error:
        raise DecodeError(f"malformed protobuf {lazy_type.DESCRIPTOR.name}: {error}") from None


_ANY_VALUE_FAMILY = frozenset(f"opentelemetry.proto.common.v1.{name}"
                              for name in ("AnyValue", "ArrayValue", "KeyValueList", "KeyValue"))
_LAZY_FIELD_TYPES = frozenset((".opentelemetry.proto.common.v1.KeyValue",
                               ".opentelemetry.proto.common.v1.AnyValue"))


@cache
def _lazy_types() -> dict[str, type[Message]]:
    """Full name of each request type -> its lazy twin, built in a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def make_lazy(messages: Any, package: str) -> None:
        for message in messages:
            if f"{package}.{message.name}" not in _ANY_VALUE_FAMILY:
                for field in message.field:
                    if field.type_name in _LAZY_FIELD_TYPES:
                        field.type = FieldDescriptor.TYPE_BYTES
                        field.ClearField("type_name")
            make_lazy(message.nested_type, f"{package}.{message.name}")

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        make_lazy(proto.message_type, proto.package)
        pool.Add(proto)
        added.add(file.name)

    lazy: dict[str, type[Message]] = {}
    for request_type in REQUEST_TYPES.values():
        add(request_type.DESCRIPTOR.file)
        name = request_type.DESCRIPTOR.full_name
        lazy[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    return lazy


def decode_json(signal: Signal, body: bytes | str) -> Message:
    """Parse an OTLP/JSON export request (hex ids, integer enums, unknown fields ignored)."""
    request_type = _request_type(signal)
    name = request_type.DESCRIPTOR.name
    try:
        document = json.loads(body)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer over 4,300 digits
        raise DecodeError(f"malformed OTLP/JSON {name}: {error}") from None
    except RecursionError:
        raise DecodeError(f"malformed OTLP/JSON {name}: nested too deeply") from None
    if not isinstance(document, dict):
        raise DecodeError(f"malformed OTLP/JSON {name}: the body must be a JSON object, "
                          f"got {type(document).__name__}")
    if _MAY_HOLD_SURROGATE.search(body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")):
        _refuse_lone_surrogates(document, name)
    _convert_ids(document, request_type.DESCRIPTOR, _hex_to_base64, "")
    message = request_type()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, OverflowError, RecursionError) as error:
        # OverflowError: json.loads takes Infinity, which no integer or enum field can hold
        raise DecodeError(f"malformed OTLP/JSON {name}: {error}") from None
    return message


#: A ``\\uD800``-``\\uDFFF`` escape, or the UTF-8 form of a surrogate (which ``json.loads``
#: accepts from bytes): the only ways a parsed document can hold one. Pairs are fine.
_MAY_HOLD_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _refuse_lone_surrogates(document: dict[str, Any], name: str) -> None:
    """A lone surrogate is not Unicode text: no column can store it, and protobuf's JSON
    parser fails on one in a key with an internal error, so the body is refused here."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise DecodeError(f"malformed OTLP/JSON {name}: a string holds the lone UTF-16 surrogate "
                          f"{error.object[error.start]!a}, which is not Unicode text") from None


def decode(signal: Signal, body: bytes, media_type: str) -> Message:
    """Parse ``body`` of the bare ``media_type`` (parameters such as charset already removed)."""
    if media_type == PROTOBUF:
        return decode_protobuf(signal, body)
    if media_type == JSON:
        return decode_json(signal, body)
    raise UnsupportedMediaType(f"unsupported content type {media_type!r}; "
                               f"OTLP/HTTP accepts {PROTOBUF} or {JSON}")


def encode_json(message: Message) -> bytes:
    """The OTLP/JSON encoding of any OTLP message: lowerCamelCase, hex ids, integer enums,
    64-bit integers as decimal strings, default values omitted."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    _convert_ids(document, message.DESCRIPTOR, _base64_to_hex, "")
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode(message: Message, media_type: str) -> bytes:
    """``message`` in the given media type: how a response answers in the request's kind."""
    if media_type == PROTOBUF:
        return message.SerializeToString()
    if media_type == JSON:
        return encode_json(message)
    raise UnsupportedMediaType(f"unsupported content type {media_type!r}")


def _hex_to_base64(text: Any, where: str) -> str:
    if not isinstance(text, str) or not _HEX.match(text):
        raise DecodeError(f"malformed OTLP/JSON: {where} must be a hex string of whole bytes "
                          f"(OTLP/JSON ids are hex, not base64), got {text!r:.80}")
    return base64.b64encode(bytes.fromhex(text)).decode("ascii")


def _base64_to_hex(text: str, where: str) -> str:
    try:
        return base64.b64decode(text, validate=True).hex()
    except binascii.Error as error:  # MessageToDict wrote it: never happens for real messages
        raise ValueError(f"{where}: {error}") from None


@cache
def _fields_by_json_key(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    fields = {field.name: field for field in descriptor.fields}
    fields.update({field.json_name: field for field in descriptor.fields})
    return fields


@cache
def _holds_ids(descriptor: Descriptor, _visiting: frozenset[str] = frozenset()) -> bool:
    """Whether an id field can occur anywhere below ``descriptor`` (AnyValue: never)."""
    visiting = _visiting | {descriptor.full_name}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_BYTES and field.name in _ID_FIELDS:
            return True
        sub = field.message_type
        if sub is not None and sub.full_name not in visiting and _holds_ids(sub, visiting):
            return True
    return False


def _convert_ids(document: Any, descriptor: Descriptor,
                 convert: Callable[[Any, str], str], where: str) -> None:
    """Rewrite the id fields of ``document`` in place with ``convert``; the rest is left to
    ``json_format``, which reports shape errors with its own messages."""
    if not isinstance(document, dict):
        return
    fields = _fields_by_json_key(descriptor)
    for key, value in document.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        path = f"{where}.{key}" if where else key
        if field.type == FieldDescriptor.TYPE_BYTES and field.name in _ID_FIELDS:
            document[key] = convert(value, path)
        elif field.message_type is not None and _holds_ids(field.message_type):
            if field.is_repeated and isinstance(value, list):
                for index, item in enumerate(value):
                    _convert_ids(item, field.message_type, convert, f"{path}[{index}]")
            else:
                _convert_ids(value, field.message_type, convert, path)
