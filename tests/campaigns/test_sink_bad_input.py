"""Campaign (b), sink half: thousands of broken, hostile and slow requests against the real sink.

Issue 14 asks that no bad input breaks a server. Each case is sent to a real sink on
127.0.0.1 writing real Delta tables, and every answer is judged by the same rules:

- an answer comes (no hang): within the body deadline plus a margin;
- no status >= 500, except 503 with a ``Retry-After`` (overload, which OTLP retries);
- a 200 is an ``Export*ServiceResponse`` of the endpoint's signal in the request's type;
- any other status carries a ``google.rpc.Status`` (a code and a message) in the request's
  media type, or in protobuf when the request's type is not an OTLP one or the request
  could not be parsed as HTTP at all.

Afterwards good requests are still served and stored, the memory budget is back to zero,
and the only files written are the three tables' own, inside the tables folder.

Families: mutated protobuf (from hypothesis-drawn export requests of every signal),
mutated OTLP/JSON (values of every wrong type, lone surrogates, deep nesting, text
damage), compression (bombs, nested and truncated gzip, garbage after deflate), headers
(content type, encoding, token and table name variants), HTTP framing (raw bytes: wrong
and doubled lengths, broken chunks, pipelining) and slow bodies (trickles, stalls).

Size: ``GWC_CAMPAIGN_SCALE`` (a number, default 1: ~2,500 cases, well under a minute of
requests) multiplies every family; ``GWC_CAMPAIGN_SEED`` changes the cases. The figures
are printed, and appended to the file named by ``GWC_CAMPAIGN_FIGURES`` if set.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from campaign_scale import Figures, campaign_seed, count, publish, run_concurrently
from gateway_conformance.otlp import strategies as otlp_st
from gateway_conformance.otlp.decode import RESPONSE_TYPES, encode_json
from gateway_conformance.otlp.protocol import UNPARSABLE_MESSAGE
from gateway_conformance.otlp.signals import SIGNALS, Signal
from gateway_conformance.otlp.sink import SinkHandle, SinkLimits, start_sink
from gateway_conformance.tables.delta import read_table
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

SEED = campaign_seed()
KIB = 1024
#: Small bounds so bombs, drains and deadlines cost milliseconds; the rules are the same.
LIMITS = SinkLimits(max_body_bytes=256 * KIB, memory_budget_bytes=4 * 1024 * KIB, drain_bytes=1024 * KIB,
                    body_timeout_seconds=3.0, body_min_rate=4 * KIB, body_rate_grace_seconds=1.0)
ANSWER_WITHIN = LIMITS.body_timeout_seconds + 7.0
CLIENTS = 4
#: Raw requests left incomplete wait for their deadline: many at once keep the campaign short.
RAW_CLIENTS = 24


@dataclass
class Case:
    """One request: sent with httpx (``body`` + ``headers``) or as ``raw`` bytes on a socket."""

    family: str
    what: str
    signal: Signal = "metrics"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes | None = None
    #: For a raw request: its Content-Type, which the app's answer must be in.
    raw_type: str = ""

    @property
    def media_type(self) -> str:
        """The type the answer must be in: the request's OTLP type, else protobuf."""
        sent = (self.raw_type if self.raw is not None else self.headers.get("content-type", ""))
        sent = sent.split(";", 1)[0].strip().lower()
        return sent if sent in (PROTOBUF, JSON) else PROTOBUF


FIGURES = Figures(excused=frozenset({503}))


def judge(case: Case, status: int | None, headers: dict[str, str], body: bytes) -> str | None:
    """The rule this answer breaks, as a sentence, or None."""
    if status is None:
        return f"no answer within {ANSWER_WITHIN:g} s (the sink hung or dropped the connection)"
    described = f"answered {status} {headers.get('content-type', '(no content-type)')} {body[:100]!r}"
    if status >= 500 and not (status == 503 and headers.get("retry-after", "").isdigit()):
        return f"{described}; required < 500, or 503 with Retry-After"
    content_type = headers.get("content-type", "")
    if status == 200:
        if content_type != case.media_type:
            return f"{described}; a 200 must be in the request's type {case.media_type}"
        if content_type == PROTOBUF:
            try:
                RESPONSE_TYPES[case.signal].FromString(body)
            except DecodeError:
                return f"{described}; not an Export*ServiceResponse"
        elif not isinstance(json.loads(body), dict):
            return f"{described}; not an Export*ServiceResponse in JSON"
        return None
    try:
        answer = status_message(content_type, body)
    except (ValueError, DecodeError) as error:
        return f"{described}; {error}"
    if answer.code == 0 or not answer.message:
        return f"{described}; the Status has no code or no message"
    below_the_app = case.raw is not None and status == 400 and answer.message == UNPARSABLE_MESSAGE
    if content_type.split(";")[0].strip() != case.media_type and not below_the_app:
        return f"{described}; an error must be a google.rpc.Status in {case.media_type}"
    return None


# Seeds: real export requests of every signal, drawn by the project's hypothesis strategies -----

def _draw(strategy: Any, examples: int) -> list[Any]:
    drawn: list[Any] = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(request: Any) -> None:
        drawn.append(request)

    collect()
    return drawn


@pytest.fixture(scope="module")
def seeds() -> dict[Signal, list[Any]]:
    strategies = {"metrics": otlp_st.export_metrics_requests, "logs": otlp_st.export_logs_requests,
                  "spans": otlp_st.export_trace_requests}
    return {signal: _draw(make(out_of_range=True), 12) + _draw(make(), 12)
            for signal, make in strategies.items()}


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkHandle]:
    root = tmp_path_factory.mktemp("campaign")
    with start_sink(root / "tables", "fuzz", [TOKEN], limits=LIMITS) as handle:
        yield handle


# Sending ----------------------------------------------------------------------------------------

def send(sink: SinkHandle, client: httpx.Client, case: Case) -> None:
    if case.raw is not None:
        status, headers, body = _send_raw(sink, case.raw)
    else:
        headers_sent = {key: value.encode("utf-8") for key, value in case.headers.items()}
        try:
            response = client.post(sink.endpoint(case.signal), content=case.body, headers=headers_sent,
                                   timeout=ANSWER_WITHIN)
            status, headers, body = response.status_code, dict(response.headers), response.content
        except httpx.HTTPError:
            status, headers, body = None, {}, b""
    FIGURES.record(case, status, judge(case, status, headers, body))


def _send_raw(sink: SinkHandle, data: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Send and wait with the connection open: a request left incomplete is the sink's to cut
    off at its body deadline (a half-close would make uvicorn drop the connection unanswered)."""
    with connect(sink) as sock:
        send_quietly(sock, data)
        answer = read_response(sock, ANSWER_WITHIN)
    if answer is None:
        return None, {}, b""
    return answer.status, answer.headers, answer.body


def run(sink: SinkHandle, cases: list[Case], parallel: int = CLIENTS) -> None:
    run_concurrently(lambda client, case: send(sink, client, case), cases, CLIENTS, parallel)


def assert_no_problems(family: str) -> None:
    FIGURES.assert_no_problems(family)


# Mutations --------------------------------------------------------------------------------------

def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data or b"\0")
    how = rng.choice(["flip", "replace", "insert", "delete", "truncate", "duplicate", "varint", "tag"])
    at = rng.randrange(len(data))
    if how == "flip":
        data[at] ^= 1 << rng.randrange(8)
    elif how == "replace":
        data[at] = rng.randrange(256)
    elif how == "insert":
        data[at:at] = rng.randbytes(rng.randint(1, 16))
    elif how == "delete":
        del data[at:at + rng.randint(1, 16)]
    elif how == "truncate":
        del data[at:]
    elif how == "duplicate":
        data[at:at] = data[at:at + rng.randint(1, 64)]
    elif how == "varint":  # an over-long or maximal varint where a length or number may be
        data[at:at] = rng.choice([b"\xff" * 10 + b"\x01", b"\x80" * 9 + b"\x00", b"\xff\xff\xff\xff\x0f"])
    else:  # a field with a random number and wire type (including the deprecated groups)
        data[at:at] = bytes([rng.randrange(256)]) + rng.randbytes(rng.randint(0, 8))
    return bytes(data), how


def test_mutated_protobuf(sink: SinkHandle, seeds: dict[Signal, list[Any]]) -> None:
    rng = random.Random(f"{SEED}-protobuf")
    cases = []
    for index in range(count(800)):
        signal = rng.choice(SIGNALS)
        body, how = mutate_bytes(rng, rng.choice(seeds[signal]).SerializeToString())
        for _ in range(rng.choice([0, 0, 1, 3])):
            body, more = mutate_bytes(rng, body)
            how += f"+{more}"
        target = signal if rng.random() > 0.1 else rng.choice(SIGNALS)  # sometimes the wrong endpoint
        cases.append(Case("protobuf", f"#{index} {how} of a {signal} request, to /{target}", target,
                          otlp_headers(sink, target), body))
    run(sink, cases)
    assert_no_problems("protobuf")


_WRONG_VALUES: list[Callable[[random.Random], Any]] = [
    lambda r: None, lambda r: True, lambda r: r.randint(-2**70, 2**70), lambda r: r.random() * 1e308,
    lambda r: float("inf") if r.random() < .5 else -0.0, lambda r: "", lambda r: "x" * r.randint(1, 70_000),
    lambda r: "\ud800", lambda r: "\udfff\ud800", lambda r: "caf\u00e9 \U0001f600", lambda r: "zz-not-hex",
    lambda r: "-1", lambda r: "18446744073709551616", lambda r: "1e400", lambda r: "NaN", lambda r: [],
    lambda r: [None, 1, "a"], lambda r: {}, lambda r: {"\ud800": 1}, lambda r: {"stringValue": 7},
    lambda r: base64.b64encode(r.randbytes(5)).decode(), lambda r: r.randbytes(8).hex(),
    lambda r: {"arrayValue": {"values": [{"kvlistValue": {"values": [{"key": "k", "value": {}}]}}]}},
]


def _nodes(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _nodes(value, (*path, index))


def mutate_json(rng: random.Random, document: Any) -> tuple[Any, str]:
    paths = list(_nodes(document))[1:] or [()]
    path = rng.choice(paths)
    if not path:
        return rng.choice(_WRONG_VALUES)(rng), "the whole document replaced"
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = rng.choice(["value", "value", "value", "drop", "rename", "deep", "wrap"])
    where = ".".join(map(str, path))
    if how == "value":
        parent[last] = rng.choice(_WRONG_VALUES)(rng)
    elif how == "drop":
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        renamed = rng.choice(["\ud800", "", "resourceMetrics", "__proto__", last.upper(), "x" * 5000])
        parent[renamed] = parent.pop(last)
    elif how == "deep":
        deep: Any = 1
        for _ in range(rng.choice([50, 300])):
            deep = [deep] if rng.random() < .5 else {"values": deep}
        parent[last] = deep
    else:
        parent[last] = [parent[last]] if rng.random() < .5 else {"value": parent[last]}
    return document, f"{how} at {where}"


def test_mutated_json(sink: SinkHandle, seeds: dict[Signal, list[Any]]) -> None:
    rng = random.Random(f"{SEED}-json")
    cases = []
    for index in range(count(800)):
        signal = rng.choice(SIGNALS)
        document = json.loads(encode_json(rng.choice(seeds[signal])))
        how = []
        try:
            for _ in range(rng.choice([1, 1, 2, 4])):
                document, what = mutate_json(rng, document)
                how.append(what)
            text = json.dumps(document, ensure_ascii=rng.random() < .5, allow_nan=True)
        except RecursionError:  # nested too deeply for this process: send a deep document as text
            text, how = '{"resourceLogs":' + "[" * 100_000, ["100,000 open brackets"]
        body = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.2:  # damage the text too
            body, what = mutate_bytes(rng, body)
            how.append(f"text {what}")
        cases.append(Case("json", f"#{index} {'; '.join(how)[:200]} ({signal})", signal,
                          otlp_headers(sink, signal, content_type=JSON), body))
    fixed = [b"", b"null", b"[]", b"1", b'"x"', b"\xef\xbb\xbf{}", '{}'.encode("utf-16"), b"{\0}",
             b'{"resourceLogs":[],"resourceLogs":7}', b'{"resourceLogs":' + b"[" * 100_000,
             b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":' + b"9" * 5000 + b"}]}]}]}",
             b"\xff\xfe\xfd", rb'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"\u0000"}]}]}]}']
    json_headers = otlp_headers(sink, "logs", content_type=JSON)
    cases += [Case("json", f"fixed {body[:40]!r}", "logs", json_headers, body)
              for body in fixed]
    run(sink, cases)
    assert_no_problems("json")


def test_compression(sink: SinkHandle, seeds: dict[Signal, list[Any]]) -> None:
    rng = random.Random(f"{SEED}-compression")
    limit = LIMITS.max_body_bytes
    bomb = gzip.compress(b"\0" * (64 * limit))
    makers: list[tuple[str, str, Callable[[bytes], bytes]]] = [
        ("gzip", "valid gzip", gzip.compress),
        ("deflate", "valid deflate", zlib.compress),
        ("gzip", "a bomb", lambda _: bomb),
        ("deflate", "a deflate bomb", lambda _: zlib.compress(b"\0" * (64 * limit))),
        ("gzip", "gzip of gzip", lambda body: gzip.compress(gzip.compress(body))),
        ("gzip", "two members", lambda body: gzip.compress(body) + gzip.compress(body)),
        ("gzip", "a member then garbage", lambda body: gzip.compress(body) + b"garbage"),
        ("gzip", "truncated", lambda body: gzip.compress(body)[:-rng.randint(1, 12)]),
        ("gzip", "cut after the header", lambda body: gzip.compress(body)[:10]),
        ("deflate", "raw deflate without the zlib header", lambda body: zlib.compress(body)[2:-4]),
        ("deflate", "garbage after the stream", lambda body: zlib.compress(body) + b"\0\0"),
        ("gzip", "a mutated stream", lambda body: mutate_bytes(rng, gzip.compress(body))[0]),
        ("gzip", "plain bytes", lambda body: body),
        ("identity", "gzip bytes sent as identity", gzip.compress),
        ("GZIP", "upper-case encoding", gzip.compress),
        ("gzip, gzip", "two encodings", lambda body: gzip.compress(gzip.compress(body))),
        ("br", "an unsupported encoding", lambda body: body),
        ("x-gzip", "x-gzip", gzip.compress),
        ("gzip", "many tiny members", lambda body: b"".join(gzip.compress(body[i:i + 7])
                                                            for i in range(0, min(len(body), 700), 7))),
        ("gzip", "an empty member", lambda _: gzip.compress(b"")),
    ]
    cases = []
    for index in range(count(150)):
        signal = rng.choice(SIGNALS)
        encoding, what, make = rng.choice(makers)
        media_type = rng.choice([PROTOBUF, JSON])
        request = rng.choice(seeds[signal])
        plain = request.SerializeToString() if media_type == PROTOBUF else encode_json(request)
        cases.append(Case("compression", f"#{index} {what} ({encoding}, {media_type}, {signal})", signal,
                          otlp_headers(sink, signal, content_type=media_type, content_encoding=encoding),
                          make(plain)))
    run(sink, cases)
    assert_no_problems("compression")


def test_headers(sink: SinkHandle, seeds: dict[Signal, list[Any]]) -> None:
    rng = random.Random(f"{SEED}-headers")
    variants: dict[str, list[str]] = {
        "content_type": ["application/x-protobuf; charset=utf-8", "APPLICATION/JSON", "application/json;",
                         "application/protobuf", "application/grpc", "text/plain", "", "*/*", ";;;",
                         "application/x-protobuf, application/json", "application/json; charset=latin-1",
                         "x" * 4000, "application/\u00e9t\u00e9"],
        "authorization": ["", "Bearer", "Bearer ", f"bearer {TOKEN}", f"BEARER  {TOKEN}  ", f"Basic {TOKEN}",
                          f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer " + "a" * 8000,
                          f"Bearer {TOKEN}, Bearer other", "Token abc", "Bearer \u00e9\u00e9"],
        "x_databricks_uc_table_name": [
            "", "main", "main.otel", "main.otel.fuzz_otel_logs", "a.b.c.d", "../../etc.passwd.x",
            "main.otel.fuzz_otel_metrics; DROP TABLE x", "main.otel.`fuzz_otel_metrics`",
            " main.otel.fuzz_otel_metrics ", "MAIN.OTEL.FUZZ_OTEL_METRICS", "main.otel.1abc",
            "main.otel." + "t" * 3000, "main.otel.fuzz_otel_spans", "main..fuzz", "\u00e9.\u00e9.\u00e9",
            "main.otel.nobody_otel_metrics", "main.otel.x/../../y"],
        "content_encoding": ["", "identity", "gzip;q=1", "deflate, identity", "compress", "zstd", "*"],
    }
    cases = []
    for index in range(count(300)):
        signal = rng.choice(SIGNALS)
        chosen = {name: rng.choice(values)
                  for name, values in rng.sample(sorted(variants.items()), rng.randint(1, 3))}
        headers = otlp_headers(sink, signal, **chosen)
        request = rng.choice(seeds[signal])
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        body = encode_json(request) if media_type == JSON else request.SerializeToString()
        described = ", ".join(f"{key}={value[:40]!r}" for key, value in chosen.items())
        raw = _head(sink, signal, {**headers, "content-length": str(len(body))}) + body
        cases.append(Case("headers", f"#{index} {described} ({signal})", signal, raw=raw,
                          raw_type=headers.get("content-type", "")))
    run(sink, cases, parallel=RAW_CLIENTS)
    assert_no_problems("headers")


def raw_request(sink: SinkHandle, signal: Signal, framing: str, body: bytes, *,
                request_line: str | None = None, extra: str = "", content_type: str = PROTOBUF) -> bytes:
    """A request as bytes: the documented headers, then ``extra`` header lines and ``framing``."""
    head = request_head(sink, signal, framing=framing, content_type=content_type)
    if request_line is not None:
        head = request_line.encode("latin-1") + head[head.index(b"\r\n"):]
    if extra:
        head = head[:-2] + extra.encode("latin-1") + b"\r\n"
    return head + body


def test_http_framing(sink: SinkHandle, seeds: dict[Signal, list[Any]]) -> None:
    rng = random.Random(f"{SEED}-framing")
    path = sink.endpoint("metrics").removeprefix(sink.workspace_url)

    def chunked(body: bytes, size: int = 100) -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                        for i in range(0, len(body), size)) + b"0\r\n\r\n"

    def req(framing: str, body: bytes, **options: str) -> bytes:
        return raw_request(sink, "metrics", framing, body, **options)

    def sized(body: bytes, **options: str) -> bytes:  # a correct Content-Length
        return req(f"content-length: {len(body)}", body, **options)

    te = "transfer-encoding: chunked"
    methods = ["PUT", "GET", "DELETE", "PATCH", "OPTIONS"]
    paths = [path + "?x=1", path + "/", "/" + path, path.replace("metrics", "%6detrics"), "*",
             path.replace("v1/", "v1/../v1/"), "http://127.0.0.1" + path, path + "%00", path + "%ED%A0%80",
             "/" + "a" * 10000]
    templates: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("length shorter than the body", lambda b: req(f"content-length: {len(b) // 2}", b)),
        ("length longer than the body", lambda b: req(f"content-length: {len(b) + 99}", b)),
        ("length and chunked", lambda b: req(f"content-length: {len(b)}\r\n{te}", chunked(b))),
        ("two lengths", lambda b: req(f"content-length: {len(b)}\r\ncontent-length: 1", b)),
        ("negative length", lambda b: req("content-length: -5", b)),
        ("length not a number", lambda b: req("content-length: 0x10", b)),
        ("huge length", lambda b: req("content-length: 99999999999999999999", b)),
        ("valid chunks", lambda b: req(te, chunked(b, 7))),
        ("chunk extensions", lambda b: req(te, chunked(b).replace(b"\r\n", b";ext=1\r\n", 1))),
        ("trailers", lambda b: req(te, chunked(b)[:-2] + b"x-trailer: 1\r\n\r\n")),
        ("a chunk size not hex", lambda b: req(te, b"zz\r\n" + b + b"\r\n0\r\n\r\n")),
        ("a chunk longer than announced", lambda b: req(te, b"2\r\n" + b + b"\r\n0\r\n\r\n")),
        ("no final chunk", lambda b: req(te, chunked(b)[:-5])),
        ("a chunk of 2**72 bytes", lambda b: req(te, b"ffffffffffffffffff\r\n" + b)),
        ("transfer-encoding gzip", lambda b: req("transfer-encoding: gzip", b)),
        ("pipelined good then broken", lambda b: sized(b) + b"POST " + path.encode()
         + b" HTTP/1.1\r\ncontent-length: x\r\n\r\n"),
        ("HTTP/1.0 without host", lambda b: sized(b, request_line=f"POST {path} HTTP/1.0")),
        ("HTTP/9.9", lambda b: sized(b, request_line=f"POST {path} HTTP/9.9")),
        ("lower-case method", lambda b: sized(b, request_line=f"post {path} HTTP/1.1")),
        ("other methods", lambda b: sized(b, request_line=f"{rng.choice(methods)} {path} HTTP/1.1")),
        ("odd paths", lambda b: sized(b, request_line=f"POST {rng.choice(paths)} HTTP/1.1")),
        ("a header without a colon", lambda b: sized(b, extra="no-colon-here\r\n")),
        ("a folded header", lambda b: sized(b, extra="x-folded: a\r\n  b\r\n")),
        ("a 20 KiB header", lambda b: sized(b, extra="x-big: " + "a" * 20_000 + "\r\n")),
        ("NUL in a header", lambda b: sized(b, extra="x-nul: a\x00b\r\n")),
        ("garbage instead of a request", lambda b: rng.randbytes(rng.randint(1, 300)) + b"\r\n\r\n"),
        ("a JSON body, length shorter", lambda b: req("content-length: 3", b"{}{}{}", content_type=JSON)),
    ]
    cases = []
    for index in range(count(250)):
        what, make = rng.choice(templates)
        body = rng.choice(seeds["metrics"]).SerializeToString()[:2000]
        raw = make(body)
        content_type = JSON if b"content-type: application/json" in raw else PROTOBUF
        cases.append(Case("framing", f"#{index} {what}", "metrics", raw=raw, raw_type=content_type))
    run(sink, cases, parallel=RAW_CLIENTS)
    assert_no_problems("framing")


def test_slow_bodies(sink: SinkHandle) -> None:
    """Trickles, stalls and early closes, all at once; each must end by its deadline."""
    rng = random.Random(f"{SEED}-slow")
    cases = []
    for index in range(count(16)):
        kind = rng.choice(["stall after the head", "stall mid-body", "endless chunk", "trickle",
                           "fast enough", "trickled head"])
        cases.append(Case("slow", f"#{index} {kind}", "metrics", raw=b"", raw_type=kind))
    with ThreadPoolExecutor(len(cases)) as pool:
        list(pool.map(lambda case: _slow(sink, case, rng.random()), cases))
    assert_no_problems("slow")


def _slow(sink: SinkHandle, case: Case, jitter: float) -> None:
    kind, case.raw_type = case.raw_type, PROTOBUF
    body = b"\0" * 20_000
    with connect(sink, timeout=ANSWER_WITHIN) as sock:
        answer = None
        if kind == "stall after the head":
            send_quietly(sock, request_head(sink, framing=f"content-length: {len(body)}"))
        elif kind == "stall mid-body":
            send_quietly(sock, request_head(sink, framing=f"content-length: {len(body)}") + body[:5000])
        elif kind == "trickled head":  # a byte at a time, never the blank line that ends it
            for byte in request_head(sink, framing="content-length: 0")[:-4]:
                if not send_quietly(sock, bytes([byte])):
                    break
                answer = read_response(sock, 0.05)
                if answer is not None:
                    break
        elif kind == "endless chunk":
            head = request_head(sink, framing="transfer-encoding: chunked")
            send_quietly(sock, head + b"ffffffffffffffffff\r\n")
        else:  # a trickle far below the minimum rate, or a body at twice it
            rate = LIMITS.body_min_rate * (0.02 if kind == "trickle" else 2)
            send_quietly(sock, request_head(sink, framing=f"content-length: {len(body)}"))
            step = max(1, int(rate / 20))
            for start in range(0, len(body), step):
                if not send_quietly(sock, body[start:start + step]):
                    break
                answer = read_response(sock, 0.05 + jitter * 0.01)
                if answer is not None:
                    break
        answer = answer or read_response(sock, ANSWER_WITHIN)
    status = None if answer is None else answer.status
    FIGURES.record(case, status, judge(case, status, {} if answer is None else answer.headers,
                                       b"" if answer is None else answer.body))


def test_afterwards_good_requests_are_served_and_nothing_is_written_elsewhere(sink: SinkHandle) -> None:
    marker = uuid.uuid4().hex
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value, record.time_unix_nano = marker, 1_700_000_000_000_000_000
    for media_type, body in ((PROTOBUF, request.SerializeToString()), (JSON, encode_json(request))):
        response = httpx.post(sink.endpoint("logs"), content=body, timeout=30,
                              headers=otlp_headers(sink, "logs", content_type=media_type))
        assert response.status_code == 200, (
            f"after the campaign a good {media_type} export answered {response.status_code} "
            f"{response.content[:120]!r}")
    name = sink.table_names["logs"]
    bodies = read_table(sink.tables_dir / name.catalog / name.schema / name.table, ["body"]).column("body")
    assert bodies.to_pylist().count(marker) == 2, "the two good exports after the campaign are not stored"
    assert wait_until(lambda: sink.sink.budget.in_use == 0, seconds=15.0), (
        f"{sink.sink.budget.in_use} bytes of the memory budget stay held after every request ended")
    tables = {sink.tables_dir / n.catalog / n.schema / n.table for n in sink.table_names.values()}
    stray = [path for path in sink.tables_dir.parent.rglob("*")
             if path.is_file() and not any(table in path.parents for table in tables)]
    assert not stray, f"files written outside the three tables: {[str(p) for p in stray[:10]]}"
    report_figures(sink)


def report_figures(sink: SinkHandle) -> None:
    totals, statuses = FIGURES.summary("sink")
    publish([totals, f"{statuses}; memory budget high-water mark {sink.sink.budget.high_water / 1024:.0f} "
                     f"KiB of {LIMITS.memory_budget_bytes / 1024:.0f} KiB"])


def _head(sink: SinkHandle, signal: Signal, headers: dict[str, str]) -> bytes:
    path = sink.endpoint(signal).removeprefix(sink.workspace_url)
    lines = [f"POST {path} HTTP/1.1", f"host: {sink.server.host}:{sink.server.port}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
