"""The OTLP/HTTP sink: ``POST /api/2.0/otel/v1/{metrics,logs,traces}`` into Delta tables.

Behaves like the Databricks workspace collector (SPEC.md sections 2 and 4) and follows the
OTLP/HTTP specification where Databricks is silent. Decisions, in the order they are checked:

- Response media type: the request's (``application/x-protobuf`` or ``application/json``);
  for any other request type errors answer in protobuf, OTLP's default encoding.
- Load shedding: more than ``max_in_flight`` requests being decoded, mapped or committed at
  once, a writer whose commit queue is full, or bodies past the shared memory budget get 503
  with ``Retry-After`` (retryable by every OTLP client). A body still arriving holds no
  in-flight slot: it is bounded by its deadline and the memory budget instead, so clients
  that trickle their bodies cannot starve the exporters.
- Auth: ``Authorization: Bearer <token>`` with a token given at construction, else 401.
- Content-Type other than the two OTLP types: 415. Content-Encoding other than
  gzip/deflate/identity: 415.
- ``X-Databricks-UC-Table-Name``: missing or not ``catalog.schema.table`` 400; no such
  table 404 (tables are never created on demand: the real service requires the documented
  DDL to have run, so the sink pre-creates only its configured prefix's three tables); a
  table of another signal or whose ``otel.schemaVersion`` is not v1 400.
- Body: over ``max_body_bytes`` raw or after decompression 413 (a gzip bomb is stopped
  as soon as its output passes the limit); not arrived by its deadline or below the minimum
  rate 408; truncated or corrupt gzip 400; a body that is not an export request of the
  endpoint's signal 400.
- Success: 200 with an empty ``Export*ServiceResponse`` only after the Delta commit that
  holds the rows; rows the mapping rejects are reported through partial success. A failed
  commit answers 503, so the client retries and nothing acknowledged is ever missing.
- Errors carry a ``google.rpc.Status`` (code, message) in the response media type. A
  message echoes at most ``_MAX_MESSAGE`` characters, and any text that cannot be encoded
  (a lone surrogate) escaped, so building the error can never fail.
"""

from __future__ import annotations

import hmac
import logging
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import anyio
import anyio.to_thread
import pyarrow as pa
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from gateway_conformance.otlp.body import (
    BodyError,
    BodyPace,
    Lease,
    MemoryBudget,
    OverBudget,
    decompress_bounded,
    read_body,
    supported_encoding,
)
from gateway_conformance.otlp.decode import (
    JSON,
    MEDIA_TYPES,
    PROTOBUF,
    RESPONSE_TYPES,
    DecodeError,
    encode,
)
from gateway_conformance.otlp.protocol import otlp_protocol
from gateway_conformance.otlp.rows import MappedRows, map_body
from gateway_conformance.otlp.signals import (
    KINDS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_PROPERTY,
    SIGNALS,
    Signal,
    signal_of,
    signal_table,
)
from gateway_conformance.server import ServerHandle
from gateway_conformance.tables.engines import make_writer
from gateway_conformance.tables.writer import DeltaWriter, TableName, WriterOverloaded

OTEL_PATH = "/api/2.0/otel/v1"
TABLE_HEADER = "X-Databricks-UC-Table-Name"
#: URL path segment per signal: spans are exported to ``/traces``.
ENDPOINTS: dict[Signal, str] = {"metrics": "metrics", "logs": "logs", "spans": "traces"}
_REJECTED_FIELD: dict[Signal, str] = {"metrics": "rejected_data_points", "logs": "rejected_log_records",
                                      "spans": "rejected_spans"}
_GRPC_CODE = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 404: code_pb2.NOT_FOUND,
              405: code_pb2.UNIMPLEMENTED, 408: code_pb2.DEADLINE_EXCEEDED, 413: code_pb2.RESOURCE_EXHAUSTED,
              415: code_pb2.INVALID_ARGUMENT, 500: code_pb2.INTERNAL, 503: code_pb2.UNAVAILABLE}
#: Characters of an error message sent back: messages quote the client's input, which can be
#: megabytes (a JSON value echoed by the parser, a header).
_MAX_MESSAGE = 1000
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkLimits:
    """Bounds of one sink. 20 MiB is the OpenTelemetry Collector's default request limit;
    Databricks publishes none, and Claude Code's exports are a few KiB."""

    max_body_bytes: int = 20 * 1024 * 1024
    max_in_flight: int = 64
    #: Threads decoding and mapping at once. Mapping is Python holding the GIL; more threads
    #: than cores only trade the lock back and forth (16 mapping threads ran ~40% slower).
    map_threads: int = 2
    retry_after_seconds: int = 1
    #: Bytes past the limit still read (and dropped) so the client sees the 413, not a reset.
    drain_bytes: int = 64 * 1024 * 1024
    #: The longest a body may take to arrive (408 after), and a request head too (counted from
    #: the connection's start or the previous answer). OTLP exporters give up on a whole
    #: request after 10 s by default (``OTEL_EXPORTER_OTLP_TIMEOUT``), so 30 s cuts off no
    #: exporter that is still waiting for its answer.
    body_timeout_seconds: float = 30.0
    #: After the first ``body_rate_grace_seconds``, a body must arrive at this many bytes per
    #: second on average (0: no minimum). 16 KiB/s is a 128 kbit/s link; a trickle is slower.
    body_min_rate: float = 16 * 1024
    #: 10 s, the exporters' own default timeout: a body that has not arrived by then belongs to
    #: a request its exporter has abandoned. (With 5 s, an overloaded run of ``./tasks load``
    #: cut off one honest 200-byte body whose sender was starved of CPU.)
    body_rate_grace_seconds: float = 10.0
    #: Raw and decompressed body bytes held by all requests together (503 past it). 256 MiB
    #: holds four requests of the largest size at once (each needs up to three times
    #: ``max_body_bytes``: raw, inflated pieces, joined) and thousands of ordinary exports.
    memory_budget_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.body_timeout_seconds > 0:
            raise ValueError(f"body_timeout_seconds must be more than 0, got {self.body_timeout_seconds}")
        if self.body_min_rate < 0 or self.body_rate_grace_seconds < 0:
            raise ValueError("body_min_rate and body_rate_grace_seconds must be 0 or more")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be 1 or more, got {self.max_in_flight}")
        if self.memory_budget_bytes < 3 * self.max_body_bytes:
            raise ValueError(f"the memory budget ({self.memory_budget_bytes} bytes) must hold one request "
                             f"of the largest size: at least 3 x max_body_bytes = {3 * self.max_body_bytes}")

    @property
    def pace(self) -> BodyPace:
        return BodyPace(self.body_timeout_seconds, self.body_min_rate, self.body_rate_grace_seconds)


class SinkFaults:
    """Injected 503s, for tests that prove retried exports are neither lost nor duplicated.

    Each request that reached the commit step fails with ``probability`` (at most ``count``
    times in all, if given) after being decoded and mapped, so a refused request did every
    step but the commit.
    """

    def __init__(self, probability: float = 0.0, *, count: int | None = None, seed: int | None = None,
                 retry_after_seconds: int = 0) -> None:
        self.probability = probability
        self.remaining = count
        self.retry_after_seconds = retry_after_seconds
        self.injected = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def fire(self) -> bool:
        with self._lock:
            if self.remaining == 0 or self._random.random() >= self.probability:
                return False
            if self.remaining is not None:
                self.remaining -= 1
            self.injected += 1
            return True


class OtlpError(Exception):
    """An answer other than 200: HTTP status, message, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def printable(message: str) -> str:
    """``message`` cut to ``_MAX_MESSAGE`` characters and safe to encode as UTF-8 (a lone
    surrogate from the client's JSON becomes ``\\udfff``, not an encoding error)."""
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + " [...]"
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(status: int, message: str, media_type: str = PROTOBUF,
                   headers: dict[str, str] | None = None) -> Response:
    """A ``google.rpc.Status`` body, the error shape of OTLP/HTTP."""
    body = status_pb2.Status(code=_GRPC_CODE.get(status, code_pb2.UNKNOWN), message=printable(message))
    return Response(encode(body, media_type), status_code=status, media_type=media_type, headers=headers)


class OtlpSink:
    """The ASGI app (``.app``) over any :class:`DeltaWriter`."""

    def __init__(self, writer: DeltaWriter, tokens: Iterable[str], *, limits: SinkLimits | None = None,
                 faults: SinkFaults | None = None) -> None:
        self.writer = writer
        self.limits = limits or SinkLimits()
        self.faults = faults
        self._tokens = [token.encode() for token in tokens]
        if not self._tokens:
            raise ValueError("the sink needs at least one accepted token")
        self._signals: dict[TableName, Signal] = {}  # tables already checked and found valid
        # Acknowledged requests per (signal, media type): lets a check tell an exporter that
        # posts OTLP/JSON (Gemini CLI) from one that posts protobuf, which the rows cannot show.
        self.acknowledged: Counter[tuple[Signal, str]] = Counter()
        self._in_flight = 0
        self.budget = MemoryBudget(self.limits.memory_budget_bytes)
        self._map_limiter = anyio.CapacityLimiter(self.limits.map_threads)
        routes = [Route(f"{OTEL_PATH}/{path}", self._endpoint(signal), methods=["POST"])
                  for signal, path in ENDPOINTS.items()]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})

    def _endpoint(self, signal: Signal) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.handle(request, signal)
        return endpoint

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        """Unknown paths and methods answer in the OTLP error shape too."""
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                              _media_type(request) or PROTOBUF)

    async def handle(self, request: Request, signal: Signal) -> Response:
        media_type = _media_type(request)
        began = anyio.current_time()
        try:
            with self.budget.lease() as lease:
                result = await self._export(request, signal, media_type, lease, began)
        except OtlpError as error:
            return error_response(error.status, error.message, media_type or PROTOBUF, error.headers)
        except Exception:  # a defect: still answered in the OTLP error shape, and logged
            _log.exception("OTLP sink: unexpected error on %s %s", request.method, request.url.path)
            return error_response(500, "internal error in the sink; the request was not stored",
                                  media_type or PROTOBUF)
        if isinstance(result, OtlpError):  # returned, never raised: see _store
            return error_response(result.status, result.message, media_type or PROTOBUF, result.headers)
        assert media_type is not None
        self.acknowledged[signal, media_type] += 1
        return Response(encode(result, media_type), media_type=media_type)

    def _shed_if_busy(self) -> None:
        if self._in_flight >= self.limits.max_in_flight:
            raise self._unavailable(f"over {self.limits.max_in_flight} requests in flight; retry later",
                                    self.limits.retry_after_seconds)

    async def _export(self, request: Request, signal: Signal, media_type: str | None, lease: Lease,
                      began: float) -> Message | OtlpError:
        self._shed_if_busy()  # refuse before reading the body when the answer is known already
        self._authenticate(request)
        if media_type is None:
            content_type = request.headers.get("content-type", "")[:100]
            raise OtlpError(415, f"unsupported content type {content_type!r}; "
                                 f"OTLP/HTTP accepts {PROTOBUF} or {JSON}")
        try:
            encoding = supported_encoding(request.headers.get("content-encoding"))
        except BodyError as error:
            raise OtlpError(error.status, str(error)) from None
        table = await self._table(request, signal)
        limit = self.limits.max_body_bytes
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            raise OtlpError(400, "Content-Length is not a number") from None
        if declared > limit + self.limits.drain_bytes:  # too large even to drain: refuse unread
            raise OtlpError(413, f"request body is larger than the limit of {limit} bytes")
        try:
            raw = await read_body(request.stream(), limit, drain=self.limits.drain_bytes, lease=lease,
                                  pace=self.limits.pace, began=began)
        except BodyError as error:
            raise self._refusal(error) from None
        except ClientDisconnect:
            raise OtlpError(400, "the client closed the connection before the body ended") from None
        self._shed_if_busy()
        self._in_flight += 1
        try:
            return await self._store(signal, table, raw, encoding, media_type, lease)
        finally:
            self._in_flight -= 1

    async def _store(self, signal: Signal, table: TableName, raw: bytes, encoding: str, media_type: str,
                     lease: Lease) -> Message | OtlpError:
        """Map and commit one request's body: the part that the in-flight limit bounds.

        Refusals here are returned, not raised. An exception that crosses ``to_thread``, or
        is raised from a local variable, sits in a reference cycle (exception -> traceback ->
        frame -> exception) that keeps the request's buffers (raw body, rows) alive until a
        garbage collection, which an idle server may never run: 64 refused bombs once held
        1.6 GiB that way. ``handle`` answers it once these frames are gone."""
        mapped = await anyio.to_thread.run_sync(self._map, signal, raw, encoding, media_type, lease,
                                                limiter=self._map_limiter)
        if isinstance(mapped, OtlpError):
            return mapped
        if self.faults is not None and self.faults.fire():
            return self._unavailable("injected fault: the commit was refused; retry",
                                     self.faults.retry_after_seconds)
        if mapped.table.num_rows:
            refused = await anyio.to_thread.run_sync(self._commit, table, mapped.table)
            if refused is not None:
                return refused
        response = RESPONSE_TYPES[signal]()
        if mapped.rejected or mapped.error_message:
            setattr(response.partial_success, _REJECTED_FIELD[signal], mapped.rejected)
            response.partial_success.error_message = printable(mapped.error_message or "")
        return response

    def _map(self, signal: Signal, raw: bytes, encoding: str, media_type: str,
             lease: Lease) -> MappedRows | OtlpError:
        """Decompress, decode and map, off the event loop (CPU work)."""
        try:
            body = decompress_bounded(raw, encoding, self.limits.max_body_bytes, lease)
        except BodyError as error:
            return self._refusal(error)
        try:
            return map_body(signal, body, media_type)
        except DecodeError as error:
            return OtlpError(400, str(error))

    def _commit(self, table: TableName, rows: pa.Table) -> OtlpError | None:
        """``writer.append`` in a worker thread; a failure is a retryable 503 (nothing was written)."""
        try:
            self.writer.append(table, rows)
        except WriterOverloaded as error:
            return self._unavailable(f"{error}; retry later", self.limits.retry_after_seconds)
        except Exception as error:
            return self._unavailable(f"the Delta commit failed, nothing was written: {error}",
                                     self.limits.retry_after_seconds)
        return None

    def _refusal(self, error: BodyError) -> OtlpError:
        if isinstance(error, OverBudget):
            return self._unavailable(str(error), self.limits.retry_after_seconds)
        return OtlpError(error.status, str(error))

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise OtlpError(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                            {"WWW-Authenticate": "Bearer"})
        offered = token.strip().encode()
        if not any(hmac.compare_digest(offered, accepted) for accepted in self._tokens):
            raise OtlpError(401, "invalid token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    async def _table(self, request: Request, signal: Signal) -> TableName:
        header = request.headers.get(TABLE_HEADER)
        if not header:
            raise OtlpError(400, f"missing {TABLE_HEADER} header: "
                                 f"name the target table as catalog.schema.table")
        try:
            name = TableName.parse(header)
        except ValueError as error:
            raise OtlpError(400, f"{TABLE_HEADER}: {error}") from None
        if self._signals.get(name) == signal:
            return name
        found = await anyio.to_thread.run_sync(self.writer.table_info, name)
        if found is None:
            raise OtlpError(404, f"table {name} does not exist: create it with the documented DDL")
        table_signal = signal_of(found.kind)
        version = found.properties.get(SCHEMA_VERSION_PROPERTY)
        if table_signal is None:
            raise OtlpError(400, f"table {name} does not have the columns and types of a documented "
                                 f"OpenTelemetry table")
        if table_signal != signal:
            raise OtlpError(400, f"table {name} is a {table_signal} table; {ENDPOINTS[signal]} cannot be "
                                 f"written to it (POST {ENDPOINTS[table_signal]} there instead)")
        if version != SCHEMA_VERSION:
            raise OtlpError(400, f"table {name} has otel.schemaVersion {version!r}; "
                                 f"this endpoint writes {SCHEMA_VERSION!r} tables")
        self._signals[name] = signal
        return name

    @staticmethod
    def _unavailable(message: str, retry_after: int) -> OtlpError:
        return OtlpError(503, message, {"Retry-After": str(retry_after)})


def _media_type(request: Request) -> str | None:
    """The bare request media type if OTLP accepts it (parameters such as charset dropped)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type if media_type in MEDIA_TYPES else None


@dataclass
class SinkHandle:
    """A running sink: its server, writer and tables. ``stop()`` commits pending rows."""

    server: ServerHandle
    sink: OtlpSink
    tables_dir: Path
    table_names: dict[Signal, TableName]
    _stopped: bool = field(default=False, repr=False)

    @property
    def writer(self) -> DeltaWriter:
        return self.sink.writer

    @property
    def workspace_url(self) -> str:
        """The workspace root; the endpoints are ``<workspace_url>/api/2.0/otel/v1/<signal>``."""
        return self.server.url

    def endpoint(self, signal: Signal) -> str:
        return f"{self.workspace_url}{OTEL_PATH}/{ENDPOINTS[signal]}"

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (their rows commit), close the writer."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.server.stop()
        finally:
            self.writer.close()

    def __enter__(self) -> SinkHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_sink(tables_dir: Path | str, table_prefix: str, tokens: Iterable[str], *, engine: str = "deltalake",
               catalog: str = "main", schema: str = "otel", port: int = 0,
               limits: SinkLimits | None = None, faults: SinkFaults | None = None,
               writer: DeltaWriter | None = None, **writer_opts: object) -> SinkHandle:
    """Create the prefix's three documented tables (if missing) and serve the sink on 127.0.0.1.

    ``writer`` replaces the engine's writer (tests pass instrumented ones); otherwise
    ``make_writer(engine, tables_dir, **writer_opts)`` builds it.
    """
    tables_dir = Path(tables_dir)
    writer = writer if writer is not None else make_writer(engine, tables_dir, **writer_opts)
    try:
        names = {signal: signal_table(signal, catalog, schema, table_prefix) for signal in SIGNALS}
        for signal, name in names.items():
            writer.create_table(name, KINDS[signal])
        sink = OtlpSink(writer, tokens, limits=limits, faults=faults)
        server = ServerHandle(sink.app, port=port, name="otlp-sink",
                              http=otlp_protocol(sink.limits.body_timeout_seconds)).start()
    except BaseException:
        writer.close()
        raise
    return SinkHandle(server, sink, tables_dir, names)
