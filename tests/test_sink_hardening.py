"""The sink under hostile and broken clients (issue 14, items 2-4).

- Error messages that would echo a lone surrogate, or megabytes of the client's input,
  still come back as a ``google.rpc.Status`` 400 in the request's media type.
- A body that trickles, or never ends (a chunk size of 2**72), is cut off at its deadline
  with 408, and while it arrives it holds no in-flight slot, so exporters keep being served.
- Raw and decompressed bodies count against one memory budget shared by all requests:
  past it the sink sheds with 503 + ``Retry-After``, and every byte is given back when the
  request ends, including the buffers of refused requests (no reference cycle keeps them).

Request handling does not depend on the Delta engine, so these run on deltalake only.
"""

from __future__ import annotations

import gc
import gzip
import json
import socket
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from google.rpc import code_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from gateway_conformance.otlp.sink import SinkHandle, SinkLimits, start_sink
from sink_wire import (
    JSON,
    PROTOBUF,
    TOKEN,
    connect,
    otlp_headers,
    read_response,
    request_head,
    send_quietly,
    status_message,
    wait_until,
)


def gauge(point_id: str) -> bytes:
    request = ExportMetricsServiceRequest()
    point = request.resource_metrics.add().scope_metrics.add().metrics.add().gauge.data_points.add()
    point.as_double, point.time_unix_nano = 1.5, 1_700_000_000_000_000_000
    attribute = point.attributes.add()
    attribute.key, attribute.value.string_value = "point.id", point_id
    return request.SerializeToString()


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkHandle]:
    with start_sink(tmp_path_factory.mktemp("tables"), "hard", [TOKEN]) as handle:
        yield handle


def expect_status(response: httpx.Response, status: int, code: int, media_type: str) -> str:
    """The Status message of an error answered as required, else a sentence saying what came."""
    described = (f"POST answered {response.status_code} {response.headers.get('content-type')} "
                 f"{response.content[:120]!r}")
    assert response.status_code == status, f"{described}; required {status} with a google.rpc.Status"
    assert response.headers["content-type"] == media_type, f"{described}; required the request's {media_type}"
    body = status_message(media_type, response.content)
    assert body.code == code, f"{described}; required google.rpc code {code}"
    return body.message


# Item 2: what an error message echoes ------------------------------------------------------------

@pytest.mark.parametrize(("signal", "body"), [
    ("logs", b'{"resourceLogs":"\\udfff"}'),  # json_format echoes the value in its message
    ("logs", b'{"\\ud800":1}'),  # a key: json_format's field lookup fails inside upb
    ("logs", b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\\ud800x"}}]}]}]}'),
    ("metrics", b'{"resourceMetrics":[{"resource":{"attributes":[{"key":"\xed\xa0\x80","value":{}}]}}]}'),
])
def test_lone_surrogates_are_refused_with_a_status_400(sink: SinkHandle, signal: str, body: bytes) -> None:
    response = httpx.post(sink.endpoint(signal), content=body,  # type: ignore[arg-type]
                          headers=otlp_headers(sink, signal, content_type=JSON))  # type: ignore[arg-type]
    message = expect_status(response, 400, code_pb2.INVALID_ARGUMENT, JSON)
    assert "surrogate" in message, f"the 400 says {message!r}, not that a string holds a lone surrogate"


def test_error_messages_echo_a_bounded_part_of_the_input(sink: SinkHandle) -> None:
    huge = json.dumps({"resourceLogs": "x" * 200_000}).encode()
    response = httpx.post(sink.endpoint("logs"), content=huge,
                          headers=otlp_headers(sink, "logs", content_type=JSON))
    message = expect_status(response, 400, code_pb2.INVALID_ARGUMENT, JSON)
    assert len(message) <= 1024, f"a 400 echoes {len(message)} characters of the client's body"
    response = httpx.post(sink.endpoint("logs"), content=b"x",
                          headers=otlp_headers(sink, "logs", content_type="text/" + "x" * 8000))
    message = expect_status(response, 415, code_pb2.INVALID_ARGUMENT, PROTOBUF)
    assert len(message) <= 1024, f"a 415 echoes {len(message)} characters of the client's header"


# Item 3: body deadlines and in-flight slots ---------------------------------------------------------

def test_trickling_bodies_hold_no_in_flight_slot(tmp_path: Path) -> None:
    """The issue's case: 64 connections (the default in-flight limit) send a head and 10 of
    1000 bytes, and stop there."""
    with start_sink(tmp_path, "slots", [TOKEN]) as sink, ExitStack() as stack:
        for _ in range(SinkLimits().max_in_flight):
            sock = stack.enter_context(connect(sink))
            sock.sendall(request_head(sink, framing="content-length: 1000") + b"\0" * 10)
        time.sleep(1)  # the sink has read every head and started on every body
        response = httpx.post(sink.endpoint("metrics"), content=gauge(uuid.uuid4().hex),
                              headers=otlp_headers(sink), timeout=10)
        assert response.status_code == 200, (
            f"with 64 bodies still arriving, an export answered {response.status_code} "
            f"{response.content[:120]!r}; required 200 (a body in transit must not hold an in-flight slot)")


def slow_limits(**limits: float) -> SinkLimits:
    return SinkLimits(**{"body_timeout_seconds": 30.0, "body_rate_grace_seconds": 1.0,
                          # type: ignore[arg-type]
                         "body_min_rate": 1000, **limits})


def test_a_trickled_body_is_answered_408_when_it_falls_below_the_minimum_rate(tmp_path: Path) -> None:
    with start_sink(tmp_path, "slow", [TOKEN], limits=slow_limits()) as sink, connect(sink) as sock:
        sock.sendall(request_head(sink, framing="content-length: 100000"))
        began = time.monotonic()
        answer = None
        while answer is None and time.monotonic() - began < 10:
            if not send_quietly(sock, b"\0" * 10):  # 50 bytes/s: far below 1000 bytes/s
                break
            answer = read_response(sock, 0.2)
        answer = answer or read_response(sock, 1)
        assert answer is not None, "a body trickling at 50 bytes/s got no answer within 10 s; required 408"
        assert answer.status == 408, f"a body trickling at 50 bytes/s got {answer.describe()}; required 408"
        assert status_message(answer.headers["content-type"], answer.body).code == code_pb2.DEADLINE_EXCEEDED
        assert time.monotonic() - began < 5, "the 408 came long after the 1 s grace at 1000 bytes/s"
        assert wait_until(lambda: sink.sink.budget.in_use == 0), "the trickled bytes were never given back"


def test_an_endless_chunk_is_cut_off_at_the_body_deadline(tmp_path: Path) -> None:
    limits = slow_limits(body_timeout_seconds=1.5, max_in_flight=1)
    with start_sink(tmp_path, "chunk", [TOKEN], limits=limits) as sink, connect(sink) as sock:
        head = request_head(sink, framing="transfer-encoding: chunked")
        sock.sendall(head + b"ffffffffffffffffff\r\n" + b"\0" * 5000)
        time.sleep(0.3)
        good = httpx.post(sink.endpoint("metrics"), content=gauge(uuid.uuid4().hex),
                          headers=otlp_headers(sink), timeout=10)
        assert good.status_code == 200, f"beside an endless chunk an export answered {good.status_code}"
        answer = read_response(sock, 10)
        assert answer is not None, "a chunk of 2**72 bytes held its request for 10 s; required 408 at 1.5 s"
        assert answer.status == 408, f"an endless chunk got {answer.describe()}; required 408"
        assert wait_until(lambda: sink.sink.budget.in_use == 0), "the chunk's bytes were never given back"


# Item 4: one memory budget, given back with the request -------------------------------------------

def test_the_memory_budget_sheds_with_503_and_is_given_back(tmp_path: Path) -> None:
    """Three stalled bodies of 110 KiB hold 330 of 384 KiB; a bomb then needs more than what is left."""
    kib = 1024
    limits = SinkLimits(max_body_bytes=128 * kib, memory_budget_bytes=384 * kib, retry_after_seconds=3)
    with start_sink(tmp_path, "budget", [TOKEN], limits=limits) as sink, ExitStack() as stack:
        stalled = [stack.enter_context(connect(sink)) for _ in range(3)]
        for sock in stalled:
            sock.sendall(request_head(sink, framing=f"content-length: {120 * kib}") + b"\0" * (110 * kib))
        assert wait_until(lambda: sink.sink.budget.in_use >= 330 * kib), (
            f"three stalled bodies of 110 KiB account for {sink.sink.budget.in_use} bytes of the budget")
        bomb = gzip.compress(b"\0" * (10 * 1024 * kib))
        shed = httpx.post(sink.endpoint("metrics"), content=bomb,
                          headers=otlp_headers(sink, content_encoding="gzip"))
        expect_status(shed, 503, code_pb2.UNAVAILABLE, PROTOBUF)
        assert shed.headers.get("retry-after") == "3", f"the budget's 503 lacks Retry-After: {shed.headers}"
        small = httpx.post(sink.endpoint("metrics"), content=gauge("small"), headers=otlp_headers(sink))
        assert small.status_code == 200, (
            f"a 100-byte export answered {small.status_code} with 54 KiB of the budget left; required 200")
        for sock in stalled:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        assert wait_until(lambda: sink.sink.budget.in_use == 0), (
            f"{sink.sink.budget.in_use} bytes stay accounted after every request ended")
        assert sink.sink.budget.high_water >= 330 * kib


@pytest.mark.parametrize(("limits", "words"), [
    ({"max_body_bytes": 10 * 1024 * 1024, "memory_budget_bytes": 1024 * 1024}, "memory budget"),
    ({"body_timeout_seconds": 0}, "body_timeout_seconds"),
    ({"body_min_rate": -1}, "body_min_rate"),
    ({"max_in_flight": 0}, "max_in_flight"),
])
def test_limits_that_would_refuse_everything_are_refused(limits: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SinkLimits(**limits)  # type: ignore[arg-type]


def test_refused_bodies_free_their_buffers_without_the_garbage_collector(tmp_path: Path) -> None:
    """Refusals raised in the mapping thread used to keep their buffers in a reference cycle
    (exception -> traceback -> frames), so 64 concurrent bombs left serve at 1.6 GiB until a
    collection that an idle process never runs. With the collector off, nothing may stay."""
    limit = 4 * 1024 * 1024
    bomb = gzip.compress(b"\0" * (16 * limit))
    garbage = b"\x0a\xff\xff\xff\x0f" + b"\0" * (limit - 100)  # malformed protobuf, just under the limit
    with start_sink(tmp_path, "cycles", [TOKEN], limits=SinkLimits(max_body_bytes=limit)) as sink, \
            httpx.Client(timeout=30) as client:
        client.post(sink.endpoint("metrics"), content=gauge("warm-up"), headers=otlp_headers(sink))
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(4):
                assert client.post(sink.endpoint("metrics"), content=bomb,
                                   headers=otlp_headers(sink, content_encoding="gzip")).status_code == 413
                assert client.post(sink.endpoint("metrics"), content=garbage,
                                   headers=otlp_headers(sink)).status_code == 400
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            gc.enable()
    assert kept < limit, (
        f"after 8 refused requests {kept / 2**20:.1f} MiB stay allocated until a garbage collection")


@pytest.mark.parametrize(("framing", "body"), [
    ("transfer-encoding: chunked", b"zz\r\nhello\r\n0\r\n\r\n"),  # not a hex chunk size
    ("content-length: 5\r\ncontent-length: 6", b"hello!"),  # two different lengths
    ("content-length: -1", b""),
])
def test_broken_framing_is_answered_with_a_status_too(sink: SinkHandle, framing: str, body: bytes) -> None:
    """uvicorn answers what it cannot parse itself, before the app; that answer is an OTLP error too."""
    with connect(sink) as sock:
        sock.sendall(request_head(sink, framing=framing) + body)
        answer = read_response(sock, 10)
    assert answer is not None, f"a request framed {framing!r} got no answer within 10 s"
    assert answer.status == 400, f"a request framed {framing!r} got {answer.describe()}; required 400"
    status = status_message(answer.headers.get("content-type", ""), answer.body)
    assert status.code == code_pb2.INVALID_ARGUMENT


@pytest.mark.parametrize(("signal", "body"), [
    # Python refuses integers over 4,300 digits with a ValueError that is not a JSONDecodeError.
    ("logs", b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":' + b"9" * 5000 + b"}]}]}]}"),
    # json.loads takes Infinity; protobuf's JSON parser then overflows converting it to an enum.
    ("spans", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":Infinity}]}]}]}'),
])
def test_json_numbers_no_field_can_hold_are_a_status_400(sink: SinkHandle, signal: str, body: bytes) -> None:
    """Both found by the bad-input campaign: each answered 500 before."""
    response = httpx.post(sink.endpoint(signal), content=body,  # type: ignore[arg-type]
                          headers=otlp_headers(sink, signal, content_type=JSON))  # type: ignore[arg-type]
    expect_status(response, 400, code_pb2.INVALID_ARGUMENT, JSON)


def test_a_trickled_request_head_is_cut_off_too(tmp_path: Path) -> None:
    """Slowloris on the head: uvicorn has no deadline for it, so without one a connection that
    sends a header byte now and then is held forever (no request ever reaches the app)."""
    with start_sink(tmp_path, "head", [TOKEN], limits=slow_limits(body_timeout_seconds=1.5)) as sink, \
            connect(sink) as sock:
        head = request_head(sink, framing="content-length: 0")
        began, answer = time.monotonic(), None
        for byte in head[:-4]:  # never the blank line that ends the head
            if not send_quietly(sock, bytes([byte])) or time.monotonic() - began > 10:
                break
            answer = read_response(sock, 0.1)
            if answer is not None:
                break
        answer = answer or read_response(sock, 2)
        assert answer is not None, "a head trickled for 10 s got no answer; required 408 at 1.5 s"
        assert answer.status == 408, f"a trickled head got {answer.describe()}; required 408"
        assert status_message(answer.headers["content-type"], answer.body).code == code_pb2.DEADLINE_EXCEEDED
