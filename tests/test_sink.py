"""The OTLP/HTTP sink over real HTTP and real Delta tables: routing, status codes, bad input.

Every refusal must come back in the OTLP error shape (``google.rpc.Status``, in the
request's media type), leave the rows accepted before it in place, and leave the sink serving.
Tests that write tables run on both Delta engines (the ``sink_engine`` fixture, conftest.py).
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from google.rpc import code_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from conftest import SinkEngine
from gateway_conformance.otlp.decode import encode_json
from gateway_conformance.otlp.signals import Signal
from gateway_conformance.otlp.sink import SinkFaults, SinkHandle, SinkLimits, start_sink
from gateway_conformance.tables.delta import DeltaRsWriter, read_table
from gateway_conformance.tables.schema import arrow_schema
from gateway_conformance.tables.writer import DeltaWriter, TableName, WriterOverloaded
from sink_wire import JSON, PROTOBUF, TOKEN, otlp_headers, status_message

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def sink(sink_engine: SinkEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkHandle]:
    with sink_engine.start_sink(tmp_path_factory.mktemp("tables"), "unit", [TOKEN, "gc-second-token"],
                                limits=SinkLimits(max_body_bytes=LIMIT)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def gauge_request(*point_ids: str,
                  time_unix_nano: int = 1_700_000_000_000_000_000) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "unit.gauge"
    for index, point_id in enumerate(point_ids):
        point = metric.gauge.data_points.add()
        point.as_double = index + 0.5
        point.time_unix_nano = time_unix_nano
        attribute = point.attributes.add()
        attribute.key, attribute.value.string_value = "point.id", point_id
    return request


def table_path(sink: SinkHandle, signal: Signal) -> Path:
    name = sink.table_names[signal]
    return sink.tables_dir / name.catalog / name.schema / name.table


def stored(sink: SinkHandle, signal: Signal) -> list[dict]:
    """The table's rows, read from its Delta files by delta-rs whichever engine wrote them: an
    independent reader, and a Spark read costs ~1-2 s a call here (three per bad-input case)."""
    return read_table(table_path(sink, signal)).to_pylist()


def point_ids(sink: SinkHandle) -> list[str]:
    return [dict(row["gauge"]["attributes"])["point.id"] for row in stored(sink, "metrics")]


def assert_refused(response: httpx.Response, status: int, code: int, words: str) -> None:
    assert response.status_code == status, response.content
    body = status_message(response.headers["content-type"], response.content)
    assert body.code == code
    assert words in body.message


def post(client: httpx.Client, sink: SinkHandle, body: bytes, signal: Signal = "metrics",
         **overrides: str) -> httpx.Response:
    return client.post(sink.endpoint(signal), content=body, headers=otlp_headers(sink, signal, **overrides))


def test_protobuf_export_is_committed_before_the_empty_response(sink: SinkHandle,
                                                                client: httpx.Client) -> None:
    ids = [uuid.uuid4().hex for _ in range(3)]
    response = post(client, sink, gauge_request(*ids).SerializeToString())
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF
    assert ExportMetricsServiceResponse.FromString(response.content) == ExportMetricsServiceResponse()
    assert set(ids) <= set(point_ids(sink))  # acknowledged means committed


def test_json_export_is_answered_in_json(sink: SinkHandle, client: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1700000000000000000", "severityNumber": 9, "body": {"stringValue": marker},
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]}]}]}
    response = post(client, sink, json.dumps(body).encode(), "logs", content_type=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.json() == {}
    rows = [row for row in stored(sink, "logs") if row["body"] == marker]
    assert len(rows) == 1
    assert rows[0]["trace_id"] == "5b8efff798038103d269b633813fc60c"


def test_traces_endpoint_writes_the_spans_table(sink: SinkHandle, client: httpx.Client) -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = f"span-{uuid.uuid4().hex}"
    span.trace_id, span.span_id = bytes(range(16)), bytes(range(8))
    response = post(client, sink, request.SerializeToString(), "spans")
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    names = [row["name"] for row in stored(sink, "spans")]
    assert span.name in names


def test_empty_request_succeeds_without_a_commit(sink: SinkHandle, client: httpx.Client) -> None:
    path = table_path(sink, "spans")
    before = DeltaTable(str(path)).version()
    for body, media_type in ((b"", PROTOBUF), (b"{}", JSON)):
        response = post(client, sink, body, "spans", content_type=media_type)
        assert response.status_code == 200
    assert DeltaTable(str(path)).version() == before


def test_unstorable_points_are_partial_success(sink: SinkHandle, client: httpx.Client) -> None:
    good, bad = uuid.uuid4().hex, uuid.uuid4().hex
    request = gauge_request(good)
    request.MergeFrom(gauge_request(bad, time_unix_nano=2**64 - 1))  # above the LONG column's range
    response = post(client, sink, request.SerializeToString())
    assert response.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 1
    assert "does not fit the LONG column" in answer.partial_success.error_message
    ids = point_ids(sink)
    assert good in ids and bad not in ids


def test_partial_success_in_json(sink: SinkHandle, client: httpx.Client) -> None:
    request = gauge_request(uuid.uuid4().hex, time_unix_nano=2**64 - 1)
    response = post(client, sink, encode_json(request), content_type=JSON)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedDataPoints"] in ("1", 1)


def test_second_token_is_accepted_too(sink: SinkHandle, client: httpx.Client) -> None:
    response = post(client, sink, gauge_request(uuid.uuid4().hex).SerializeToString(),
                    Authorization="Bearer gc-second-token")
    assert response.status_code == 200


BOMB = gzip.compress(b"\0" * (32 * 1024 * 1024))  # 32 MiB of zeros in ~32 KiB: 512x the limit


@pytest.mark.parametrize(("case", "overrides", "body", "status", "code", "words"), [
    ("malformed protobuf", {}, b"\x0a\xff\xff\xff\x0f", 400, code_pb2.INVALID_ARGUMENT, "malformed protobuf"),
    ("malformed json", {"content_type": JSON}, b'{"resourceMetrics": [', 400, code_pb2.INVALID_ARGUMENT,
     "malformed OTLP/JSON"),
    ("truncated gzip", {"content_encoding": "gzip"}, None, 400, code_pb2.INVALID_ARGUMENT, "truncated"),
    ("not gzip", {"content_encoding": "gzip"}, b"plain bytes", 400, code_pb2.INVALID_ARGUMENT,
     "not valid gzip"),
    ("gzip bomb", {"content_encoding": "gzip"}, BOMB, 413,
     code_pb2.RESOURCE_EXHAUSTED, "inflates past the limit"),
    ("oversized body", {}, b"\0" * (LIMIT + 1), 413, code_pb2.RESOURCE_EXHAUSTED, "larger than the limit"),
    ("wrong content type", {"content_type": "text/plain"}, b"x", 415, code_pb2.INVALID_ARGUMENT,
     "unsupported content type 'text/plain'"),
    ("unknown encoding", {"content_encoding": "br"}, b"x", 415, code_pb2.INVALID_ARGUMENT,
     "Content-Encoding 'br' is not supported"),
    ("missing token", {"authorization": ""}, b"", 401, code_pb2.UNAUTHENTICATED, "missing bearer token"),
    ("wrong token", {"authorization": "Bearer gc-not-a-token"}, b"", 401, code_pb2.UNAUTHENTICATED,
     "invalid token"),
    ("basic auth", {"authorization": "Basic dXNlcjpwYXNz"}, b"", 401, code_pb2.UNAUTHENTICATED,
     "missing bearer token"),
    ("missing table header", {"x_databricks_uc_table_name": ""}, b"", 400, code_pb2.INVALID_ARGUMENT,
     "missing X-Databricks-UC-Table-Name"),
    ("two-part table name", {"x_databricks_uc_table_name": "otel.unit_otel_metrics"}, b"", 400,
     code_pb2.INVALID_ARGUMENT, "not of the form catalog.schema.table"),
    ("unknown table", {"x_databricks_uc_table_name": "main.otel.nobody_otel_metrics"}, b"", 404,
     code_pb2.NOT_FOUND, "main.otel.nobody_otel_metrics does not exist"),
    ("logs table on the metrics endpoint", {"x_databricks_uc_table_name": "main.otel.unit_otel_logs"}, b"",
     400, code_pb2.INVALID_ARGUMENT, "is a logs table"),
])
def test_bad_input_is_refused_in_the_otlp_error_shape(sink: SinkHandle, client: httpx.Client, case: str,
                                                       overrides: dict[str, str], body: bytes | None,
                                                       status: int, code: int, words: str) -> None:
    accepted = uuid.uuid4().hex
    assert post(client, sink, gauge_request(accepted).SerializeToString()).status_code == 200
    if body is None:  # truncated gzip: a valid export, compressed, cut short
        body = gzip.compress(gauge_request(uuid.uuid4().hex).SerializeToString())[:-6]
    before = point_ids(sink)
    response = post(client, sink, body, **overrides)
    assert_refused(response, status, code, words)
    assert point_ids(sink) == before  # nothing written, nothing accepted lost
    assert accepted in before
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    after = uuid.uuid4().hex  # the sink keeps serving
    assert post(client, sink, gauge_request(after).SerializeToString()).status_code == 200
    assert after in point_ids(sink)


def test_the_bomb_is_small_enough_that_only_bounded_inflation_can_stop_it() -> None:
    assert len(BOMB) < LIMIT


def test_gzip_bodies_are_accepted(sink: SinkHandle, client: httpx.Client) -> None:
    ids = [uuid.uuid4().hex]
    body = gzip.compress(gauge_request(*ids).SerializeToString())
    response = post(client, sink, body, content_encoding="gzip")
    assert response.status_code == 200
    assert ids[0] in point_ids(sink)


def test_errors_answer_in_json_for_json_requests(sink: SinkHandle, client: httpx.Client) -> None:
    response = post(client, sink, b"{}", content_type=JSON, Authorization="Bearer gc-wrong")
    assert response.headers["content-type"] == JSON
    assert response.json() == {"code": code_pb2.UNAUTHENTICATED, "message": "invalid token"}


def test_wrong_schema_version_and_foreign_tables_are_refused(sink: SinkHandle, client: httpx.Client) -> None:
    v2 = TableName("main", "otel", "v2_otel_metrics")
    DeltaTable.create(str(sink.tables_dir / "main" / "otel" / v2.table), arrow_schema("otel_metrics"),
                      configuration={"otel.schemaVersion": "v2"}, raise_if_key_not_exists=False)
    response = post(client, sink, b"", X_Databricks_UC_Table_Name=str(v2))
    assert_refused(response, 400, code_pb2.INVALID_ARGUMENT, "otel.schemaVersion 'v2'")
    foreign = TableName("main", "otel", "foreign")
    DeltaTable.create(str(sink.tables_dir / "main" / "otel" / foreign.table), pa.schema([("x", pa.int64())]))
    response = post(client, sink, b"", X_Databricks_UC_Table_Name=str(foreign))
    assert_refused(response, 400, code_pb2.INVALID_ARGUMENT, "columns and types of a documented")


def test_unknown_paths_and_methods_answer_in_the_otlp_error_shape(sink: SinkHandle,
                                                                  client: httpx.Client) -> None:
    assert_refused(client.post(f"{sink.workspace_url}/api/2.0/otel/v1/profiles", content=b""), 404,
                   code_pb2.NOT_FOUND, "Not Found")
    assert_refused(client.get(sink.endpoint("metrics")), 405, code_pb2.UNIMPLEMENTED, "Method Not Allowed")


class _GatedWriter:
    """Delegates to a real writer, but ``append`` waits for a gate or raises a chosen error."""

    def __init__(self, inner: DeltaWriter, error: Exception | None = None) -> None:
        self.inner = inner
        self.error = error
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def append(self, name: TableName, rows: pa.Table) -> None:
        self.entered.set()
        if self.error is not None:
            raise self.error
        assert self.release.wait(30)
        self.inner.append(name, rows)


def _gated_sink(tmp_path: Path, inner: DeltaWriter, error: Exception | None = None,
                **limits: int) -> tuple[SinkHandle, _GatedWriter]:
    writer = _GatedWriter(inner, error)
    return start_sink(tmp_path, "gated", [TOKEN], writer=writer, limits=SinkLimits(**limits)), writer


def test_load_is_shed_with_503_and_retry_after(sink_engine: SinkEngine, tmp_path: Path) -> None:
    sink, writer = _gated_sink(tmp_path, sink_engine.writer(tmp_path), max_in_flight=1, retry_after_seconds=2)
    with sink, httpx.Client(timeout=30) as client:
        first_id = uuid.uuid4().hex
        results: list[httpx.Response] = []
        first = threading.Thread(target=lambda: results.append(
            post(client, sink, gauge_request(first_id).SerializeToString())))
        first.start()
        assert writer.entered.wait(30)
        shed = post(client, sink, gauge_request(uuid.uuid4().hex).SerializeToString())
        assert_refused(shed, 503, code_pb2.UNAVAILABLE, "requests in flight")
        assert shed.headers["Retry-After"] == "2"
        writer.release.set()
        first.join(30)
        assert results[0].status_code == 200
        assert point_ids(sink) == [first_id]


@pytest.mark.parametrize(("error", "words"), [
    (WriterOverloaded("1000 rows already wait for a commit"), "rows already wait"),
    (OSError("disk full"), "the Delta commit failed, nothing was written: disk full"),
])
def test_writer_trouble_is_retryable_503(tmp_path: Path, error: Exception, words: str) -> None:
    # deltalake only: the wrapper raises before the engine is reached, so Spark would add nothing.
    sink, _ = _gated_sink(tmp_path, DeltaRsWriter(tmp_path), error)
    with sink, httpx.Client(timeout=30) as client:
        response = post(client, sink, gauge_request(uuid.uuid4().hex).SerializeToString())
        assert_refused(response, 503, code_pb2.UNAVAILABLE, words)
        assert response.headers["Retry-After"] == "1"
        assert point_ids(sink) == []


def test_injected_faults_refuse_before_the_commit(sink_engine: SinkEngine, tmp_path: Path) -> None:
    faults = SinkFaults(1.0, count=2)
    with sink_engine.start_sink(tmp_path, "faulty", [TOKEN], faults=faults) as sink, \
            httpx.Client(timeout=30) as client:
        point = uuid.uuid4().hex
        body = gauge_request(point).SerializeToString()
        for _ in range(2):
            response = post(client, sink, body)
            assert_refused(response, 503, code_pb2.UNAVAILABLE, "injected fault")
            assert response.headers["Retry-After"] == "0"
        assert point_ids(sink) == []
        assert post(client, sink, body).status_code == 200
        assert point_ids(sink) == [point]
        assert faults.injected == 2


def test_logs_response_type_matches_the_endpoint(sink: SinkHandle, client: httpx.Client) -> None:
    response = post(client, sink, b"", "logs")
    assert response.status_code == 200
    assert ExportLogsServiceResponse.FromString(response.content) == ExportLogsServiceResponse()


def test_stop_lets_in_flight_requests_commit(sink_engine: SinkEngine, tmp_path: Path) -> None:
    sink, writer = _gated_sink(tmp_path, sink_engine.writer(tmp_path))
    point = uuid.uuid4().hex
    results: list[httpx.Response] = []
    with httpx.Client(timeout=30) as client:
        request = threading.Thread(target=lambda: results.append(
            post(client, sink, gauge_request(point).SerializeToString())))
        request.start()
        assert writer.entered.wait(30)
        stopper = threading.Thread(target=sink.stop)
        stopper.start()
        writer.release.set()
        request.join(30)
        stopper.join(30)
    assert results[0].status_code == 200
    assert point_ids(sink) == [point]


def test_a_body_too_large_even_to_drain_is_refused_unread(sink_engine: SinkEngine, tmp_path: Path) -> None:
    limits = SinkLimits(max_body_bytes=1024, drain_bytes=0)
    with sink_engine.start_sink(tmp_path, "tiny", [TOKEN], limits=limits) as sink, \
            httpx.Client(timeout=30) as client:
        assert_refused(post(client, sink, b"\0" * 100_000), 413, code_pb2.RESOURCE_EXHAUSTED,
                       "larger than the limit of 1024 bytes")
        assert post(client, sink, gauge_request("small").SerializeToString()).status_code == 200
