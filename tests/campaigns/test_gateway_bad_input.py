"""Campaign (b), gateway half: wrong types in every field, damaged JSON, odd headers, broken
HTTP framing and slow bodies against the mock gateway's four surfaces.

Issue 14 asks that no bad input breaks a server. Each case goes to a real mock on
127.0.0.1 (uvicorn, the same app ``serve`` runs) and every answer is judged by the same
rules, independent of which case it was:

- an answer comes (no hang): within the body deadline plus a margin;
- no status >= 500 (a 503 or 529 must carry ``Retry-After``);
- the answer passes the suite's own shape checks for its surface and endpoint
  (:func:`gateway_conformance.traffic.shapes.check_raw`): an error is JSON in the surface's
  envelope (Anthropic ``{"type": "error", ...}``, OpenAI ``{"error": {...}}``, Google
  ``{"error": {"code", "status", ...}}``), a 200 is a valid reply or event stream;
- a request HTTP itself cannot parse (framing) gets uvicorn's plain 400 or a closed
  connection: there is no surface to answer in, and nothing may hang or answer >= 500.

Afterwards every surface still serves a good request.

Families: ``fields`` (every field of a full request of each surface, generate and count
endpoints, replaced by each wrong type, removed, or joined by an unknown one), ``json``
(byte damage, non-UTF-8, deep nesting, huge numbers, duplicate keys), ``headers`` (auth,
content type and encoding, protocol and tag headers), ``framing`` (raw bytes on a socket)
and ``slow`` (stalls and trickles, cut off by the body deadline).

Size: ``GWC_CAMPAIGN_SCALE`` (default 1: ~2,000 cases, seconds of requests) multiplies every
family; ``GWC_CAMPAIGN_SEED`` changes the cases. The figures are printed, and appended to
the file named by ``GWC_CAMPAIGN_FIGURES`` if set (``./tasks fuzz`` prints them last).
"""

from __future__ import annotations

import copy
import json
import random
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from campaign_scale import Figures, campaign_scale, campaign_seed, count, publish, run_concurrently
from gateway_conformance.gateway.app import GatewayConfig, create_gateway
from gateway_conformance.gateway.protocol import GatewayH11Protocol
from gateway_conformance.server import ServerHandle
from gateway_conformance.traffic.shapes import check_raw
from gateway_wire import assert_every_surface_serves

SCALE = campaign_scale()
SEED = campaign_seed()
TOKEN = "gwc-campaign-model-token"
BODY_TIMEOUT = 2.0
ANSWER_WITHIN = BODY_TIMEOUT + 8.0
CLIENTS = 8

# A full request per surface endpoint: every field a client may send is there to be broken.
ANTHROPIC = {"model": "databricks-claude-opus-4-6", "max_tokens": 64, "system": "Be brief.",
             "messages": [{"role": "user", "content": [{"type": "text", "text": "one two three"}]},
                          {"role": "assistant", "content": "ok"},
                          {"role": "user", "content": "four"}],
             "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["STOP"], "stream": False,
             "metadata": {"user_id": "u-1"}, "tool_choice": {"type": "auto"},
             "tools": [{"name": "get_weather", "description": "Weather for a city",
                        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]}
RESPONSES = {"model": "databricks-gpt-5-2", "instructions": "Be brief.", "stream": False,
             "input": [{"role": "user", "content": [{"type": "input_text", "text": "one two three"}]}],
             "max_output_tokens": 64, "temperature": 0.5,
             "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]}
CHAT = {"model": "databricks-gpt-5-2", "stream": False, "max_tokens": 64, "temperature": 0.5,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two"}],
        "tools": [{"type": "function",
                   "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "one two three"}]}],
          "systemInstruction": {"parts": [{"text": "Be brief."}]},
          "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5},
          "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]}
ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("anthropic", "/anthropic/v1/messages", ANTHROPIC),
    ("anthropic", "/anthropic/v1/messages/count_tokens", {k: ANTHROPIC[k] for k in ("model", "messages")}),
    ("openai", "/openai/v1/responses", RESPONSES),
    ("cursor", "/cursor/v1/chat/completions", CHAT),
    ("gemini", "/gemini/v1beta/models/databricks-gemini-2-5-flash:generateContent", GEMINI),
    ("gemini", "/gemini/v1beta/models/databricks-gemini-2-5-flash:streamGenerateContent?alt=sse", GEMINI),
    ("gemini", "/gemini/v1beta/models/databricks-gemini-2-5-flash:countTokens",
     {"contents": GEMINI["contents"]}),
]
WRONG: list[Any] = [None, True, False, 0, -1, 1.5, 10**30, -(10**30), "", "x", "\udfff", "\x00", "a" * 5000,
                    [], [1], [None], {}, {"a": 1}, {"type": None}, [[[]]], 1e308, -0.0]


@dataclass
class Case:
    family: str
    what: str
    surface: str | None
    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes | None = None


FIGURES = Figures()


def judge(case: Case, status: int | None, headers: dict[str, str], body: bytes) -> str | None:
    """The rule this answer breaks, as a sentence, or None."""
    if status is None:
        return f"no answer within {ANSWER_WITHIN:g} s (the gateway hung or dropped the connection)"
    described = (f"{case.method} {case.path[:80]} answered {status} "
                 f"{headers.get('content-type', '(no content-type)')} {body[:120]!r}")
    if status >= 500:
        return f"{described}; required < 500"
    if case.raw is not None and status == 0:
        return None  # closed without an answer after a request HTTP cannot frame (h11's choice)
    if case.surface is None:
        try:
            ok = isinstance(json.loads(body).get("error"), dict)
        except (ValueError, AttributeError):
            ok = False
        return None if ok else f"{described}; outside the surfaces an error is JSON {{\"error\": {{...}}}}"
    findings = [f for f in check_raw(case.surface, case.method, case.path, status, headers, body)
                if f.severity == "error"]
    if findings:
        return f"{described}; {findings[0].check}: {findings[0].message}"
    return None


@pytest.fixture(scope="module")
def gwc_gateway() -> Iterator[ServerHandle]:
    config = GatewayConfig(tokens={TOKEN: "campaign"}, body_timeout_seconds=BODY_TIMEOUT)
    with ServerHandle(create_gateway(config), name="campaign-gateway",
                      http=GatewayH11Protocol) as server:
        yield server


def _auth() -> dict[str, str]:
    return {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


def send(server: ServerHandle, client: httpx.Client, case: Case) -> None:
    if case.raw is not None:
        status, headers, body = raw_exchange(server, case.raw)
    else:
        sent = {k: v.encode("utf-8", "surrogateescape") for k, v in case.headers.items()}
        try:
            response = client.request(case.method, server.url + case.path, content=case.body, headers=sent,
                                      timeout=ANSWER_WITHIN)
            status, headers, body = response.status_code, dict(response.headers), response.content
        except httpx.LocalProtocolError:  # a header httpx will not send (b"Bearer "): send it raw
            head = [f"{case.method} {case.path} HTTP/1.1", f"host: {server.host}:{server.port}",
                    f"content-length: {len(case.body)}"]
            data = ("\r\n".join(head) + "\r\n").encode() + b"".join(
                k.encode() + b": " + v + b"\r\n" for k, v in sent.items()) + b"\r\n" + case.body
            status, headers, body = raw_exchange(server, data)
        except httpx.HTTPError:
            status, headers, body = None, {}, b""
    FIGURES.record(case, status, judge(case, status, headers, body))


def run(server: ServerHandle, cases: list[Case], parallel: int = CLIENTS) -> None:
    run_concurrently(lambda client, case: send(server, client, case), cases, CLIENTS, parallel)


def assert_no_problems(family: str) -> None:
    FIGURES.assert_no_problems(family)


def encode(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8", "surrogatepass")


# Raw HTTP ---------------------------------------------------------------------------------------

def raw_exchange(server: ServerHandle, data: bytes, *, pause: float = 0.0,
                 ) -> tuple[int | None, dict[str, str], bytes]:
    """Send ``data`` (``pause`` seconds between 100-byte pieces) and read the first answer;
    a closed connection without one counts as an answer of nothing (None only on a hang)."""
    with socket.create_connection((server.host, server.port), timeout=ANSWER_WITHIN) as sock:
        started = time.monotonic()
        try:
            pieces = [data[i:i + 100] for i in range(0, len(data), 100)] if pause else [data]
            for piece in pieces:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
                    if time.monotonic() - started > ANSWER_WITHIN:
                        break
        except OSError:
            pass  # the server closed on us mid-send: read what it said
        return _read_answer(sock, started + ANSWER_WITHIN)


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int | None, dict[str, str], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = _recv(sock, deadline)
        if chunk is None:
            return None, {}, b""
        if not chunk:
            return (0, {}, b"") if not buffer else _parse(buffer)  # closed: an answer, not a hang
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    status, headers = _head(head)
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = _recv(sock, deadline)
        if not chunk:
            break
        body += chunk
    return status, headers, body[:length] if length else body


def _recv(sock: socket.socket, deadline: float) -> bytes | None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    sock.settimeout(remaining)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return None
    except OSError:
        return b""


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _parse(buffer: bytes) -> tuple[int | None, dict[str, str], bytes]:
    head, _, body = buffer.partition(b"\r\n\r\n")
    try:
        status, headers = _head(head)
    except (IndexError, ValueError):
        return 0, {}, buffer
    return status, headers, body


def request_bytes(server: ServerHandle, path: str, body: bytes, *, framing: str | None = None,
                  request_line: str | None = None, extra: str = "") -> bytes:
    lines = [request_line or f"POST {path} HTTP/1.1", f"host: {server.host}:{server.port}",
             f"authorization: Bearer {TOKEN}", "content-type: application/json",
             framing if framing is not None else f"content-length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1") + body


# Families ---------------------------------------------------------------------------------------

def _paths(document: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field and list element of a document, as a key path (the root excluded)."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*at, key)
            yield from _paths(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield (*at, index)
            yield from _paths(value, (*at, index))


def _replace(document: Any, path: tuple[Any, ...], value: Any, *, remove: bool = False) -> Any:
    out = copy.deepcopy(document)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


def test_the_full_requests_are_good(gwc_gateway: ServerHandle) -> None:
    """The seeds are requests the gateway serves; otherwise a broken field proves nothing."""
    with httpx.Client() as client:
        for surface, path, body in ENDPOINTS:
            answer = client.post(gwc_gateway.url + path, json=body, headers=_auth(), timeout=30)
            assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:200]}"
            assert not check_raw(surface, "POST", path, 200, dict(answer.headers), answer.content)


def test_every_field_with_every_wrong_type(gwc_gateway: ServerHandle) -> None:
    rng = random.Random(f"{SEED}-fields")
    cases = []
    for surface, path, body in ENDPOINTS:
        fields = list(_paths(body))
        for at in fields:  # every field: each wrong type (sampled at small scale), removed, and a sibling
            values = WRONG if SCALE >= 3 else rng.sample(WRONG, min(len(WRONG), count(6)))
            for value in values:
                cases.append(Case("fields", f"{path} {'.'.join(map(str, at))} = {value!r:.40}", surface,
                                  path=path, headers=_auth(), body=encode(_replace(body, at, value))))
            cases.append(Case("fields", f"{path} without {'.'.join(map(str, at))}", surface, path=path,
                              headers=_auth(), body=encode(_replace(body, at, None, remove=True))))
        for _ in range(count(10)):
            at = rng.choice(fields)
            parent = _replace(body, at, {rng.choice(["x", "type", "stream", "model"]): rng.choice(WRONG)})
            cases.append(Case("fields", f"{path} {at} = an object of an unknown field", surface, path=path,
                              headers=_auth(), body=encode(parent)))
        for value in WRONG:  # the body itself of the wrong type
            cases.append(Case("fields", f"{path} body = {value!r:.40}", surface, path=path, headers=_auth(),
                              body=encode(value)))
    run(gwc_gateway, cases)
    assert_no_problems("fields")


def _damage(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data)
    how = rng.choice(["truncate", "flip", "insert", "delete", "duplicate", "garbage"])
    at = rng.randrange(len(data))
    if how == "truncate":
        return bytes(data[:at]), how
    if how == "flip":
        data[at] ^= 1 << rng.randrange(8)
    elif how == "insert":
        data[at:at] = rng.choice([b"\x00", b"\xff", b"{", b"]", b",", b'"', b"\\u", b"NaN", b"\xed\xa0\x80"])
    elif how == "delete":
        del data[at:at + rng.randint(1, 8)]
    elif how == "duplicate":
        data[at:at] = data[at:at + rng.randint(1, 40)]
    else:
        data[at:at] = rng.randbytes(rng.randint(1, 30))
    return bytes(data), how


def test_damaged_json(gwc_gateway: ServerHandle) -> None:
    rng = random.Random(f"{SEED}-json")
    special = [b"", b" ", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"{" * 100_000,
               b"[" * 50_000 + b"]" * 50_000, b'{"model": 1e999999}', b'{"max_tokens": ' + b"9" * 5000 + b"}",
               b'{"a":1,"a":2}', b'{"model": NaN, "max_tokens": Infinity}', b'"just a string"', b"null",
               b"123", b"\x00" * 64, b'{"messages": "\\udfff"}', b'{"\\ud800": 1}', b'{"model": "\\u0000"}']
    cases = []
    for surface, path, body in ENDPOINTS:
        for data in special:
            cases.append(Case("json", f"{path} {data[:30]!r}", surface, path=path, headers=_auth(),
                              body=data))
        for _ in range(count(30)):
            data, how = _damage(rng, encode(body))
            cases.append(Case("json", f"{path} {how}", surface, path=path, headers=_auth(), body=data))
    run(gwc_gateway, cases)
    assert_no_problems("json")


def test_headers(gwc_gateway: ServerHandle) -> None:
    rng = random.Random(f"{SEED}-headers")
    variants: list[tuple[str, dict[str, str]]] = [
        ("no auth", {"authorization": ""}), ("basic auth", {"authorization": "Basic dXNlcjpwYXNz"}),
        ("bearer without a token", {"authorization": "Bearer "}),
        ("bearer twice", {"authorization": f"Bearer {TOKEN} {TOKEN}"}),
        ("a 10 KiB token", {"authorization": "Bearer " + "t" * 10_000}),
        ("a non-ASCII token", {"authorization": "Bearer t\u00e9st\udcff"}),
        ("only x-api-key", {"authorization": "", "x-api-key": TOKEN}),
        ("only x-goog-api-key", {"authorization": "", "x-goog-api-key": TOKEN}),
        ("an empty x-goog-api-key", {"authorization": "", "x-goog-api-key": ""}),
        ("text/plain", {"content-type": "text/plain"}), ("no content type", {"content-type": ""}),
        ("form encoded", {"content-type": "application/x-www-form-urlencoded"}),
        ("json with a charset", {"content-type": "application/json; charset=latin-1"}),
        ("gzip encoding, plain body", {"content-encoding": "gzip"}),
        ("br encoding", {"content-encoding": "br"}),
        ("anthropic-version garbage", {"anthropic-version": "\u00ff" * 20}),
        ("anthropic-version empty", {"anthropic-version": ""}),
        ("anthropic-beta garbage", {"anthropic-beta": ",,,;;;" + "x" * 3000}),
        ("request tags not JSON", {"x-databricks-request-tags": "{not json"}),
        ("request tags a list", {"x-databricks-request-tags": "[1,2]"}),
        ("request tags deep", {"x-databricks-request-tags": "[" * 2000 + "]" * 2000}),
        ("request tags huge", {"x-databricks-request-tags": "k=v," * 3000}),
        ("session id huge", {"x-claude-code-session-id": "s" * 8000}),
        ("user agent huge", {"user-agent": "u" * 8000}), ("accept nothing", {"accept": "image/png"}),
        ("coding agent mode odd", {"x-databricks-use-coding-agent-mode": "maybe"}),
    ]
    cases = []
    for surface, path, body in ENDPOINTS:
        for what, changed in variants:
            headers = {**_auth(), **changed}
            headers = {k: v for k, v in headers.items() if v != "" or k != "authorization"}
            cases.append(Case("headers", f"{path} {what}", surface, path=path, headers=headers,
                              body=encode(body)))
        for _ in range(count(6)):
            what, changed = rng.choice(variants)
            cases.append(Case("headers", f"{path} GET with {what}", surface, method="GET", path=path,
                              headers={**_auth(), **changed}))
    for method, path in [("GET", "/"), ("POST", "/nowhere"), ("DELETE", "/anthropic/v1/messages"),
                         ("PUT", "/openai/v1/models"), ("GET", "/gemini/v1beta/models/x:unknownMethod"),
                         ("POST", "/gemini/v1beta/models/:generateContent"),
                         ("POST", "/anthropic/v1/messages/"),
                         ("POST", "/cursor/v1/chat/completions/extra"), ("GET", "/_admin/ledger")]:
        surface = next((s for s, p, _ in ENDPOINTS if path.startswith(p.split("/v")[0] + "/")), None)
        cases.append(Case("headers", f"{method} {path}", surface if path != "/_admin/ledger" else None,
                          method=method, path=path, headers=_auth(), body=b"{}"))
    run(gwc_gateway, cases)
    assert_no_problems("headers")


def test_http_framing(gwc_gateway: ServerHandle) -> None:
    rng = random.Random(f"{SEED}-framing")

    def chunked(body: bytes, size: int = 50) -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                        for i in range(0, len(body), size)) + b"0\r\n\r\n"

    te = "transfer-encoding: chunked"

    def req(p: str, b: bytes, framing: str | None = None, **options: str) -> bytes:
        return request_bytes(gwc_gateway, p, b, framing=framing, **options)

    templates: list[tuple[str, Any]] = [
        ("length shorter than the body", lambda p, b: req(p, b, f"content-length: {len(b) // 2}")),
        ("length longer than the body", lambda p, b: req(p, b, f"content-length: {len(b) + 50}")),
        ("length and chunked", lambda p, b: req(p, chunked(b), f"content-length: {len(b)}\r\n{te}")),
        ("two lengths", lambda p, b: req(p, b, f"content-length: {len(b)}\r\ncontent-length: 1")),
        ("negative length", lambda p, b: req(p, b, "content-length: -5")),
        ("huge length", lambda p, b: req(p, b, "content-length: 99999999999999999999")),
        ("valid chunks", lambda p, b: req(p, chunked(b, 7), te)),
        ("a chunk size not hex", lambda p, b: req(p, b"zz\r\n" + b + b"\r\n0\r\n\r\n", te)),
        ("no final chunk", lambda p, b: req(p, chunked(b)[:-5], te)),
        ("a chunk of 2**72 bytes", lambda p, b: req(p, b"ffffffffffffffffff\r\n" + b, te)),
        ("HTTP/1.0", lambda p, b: req(p, b, request_line=f"POST {p} HTTP/1.0")),
        ("HTTP/9.9", lambda p, b: req(p, b, request_line=f"POST {p} HTTP/9.9")),
        ("lower-case method", lambda p, b: req(p, b, request_line=f"post {p} HTTP/1.1")),
        ("a header without a colon", lambda p, b: req(p, b, extra="no-colon\r\n")),
        ("a 20 KiB header", lambda p, b: req(p, b, extra="x-big: " + "a" * 20_000 + "\r\n")),
        ("NUL in a header", lambda p, b: req(p, b, extra="x-nul: a\x00b\r\n")),
        ("a path with %00", lambda p, b: req(p, b, request_line=f"POST {p}%00 HTTP/1.1")),
        ("a path with a lone surrogate", lambda p, b: req(p, b, request_line=f"POST {p}%ED%A0%80 HTTP/1.1")),
        ("pipelined good then broken", lambda p, b: req(p, b) + b"POST " + p.encode()
         + b" HTTP/1.1\r\ncontent-length: x\r\n\r\n"),
        ("garbage", lambda p, b: rng.randbytes(rng.randint(1, 200)) + b"\r\n\r\n"),
    ]
    cases = []
    for index in range(count(120)):
        surface, path, body = rng.choice([e for e in ENDPOINTS if "alt=sse" not in e[1]])
        what, make = rng.choice(templates)
        cases.append(Case("framing", f"#{index} {what} on {path}", surface, path=path,
                          raw=make(path, encode(body))))
    run(gwc_gateway, cases, parallel=16)
    assert_no_problems("framing")


def test_slow_bodies(gwc_gateway: ServerHandle) -> None:
    """Stalls and trickles, all at once: each must be answered by the body deadline."""
    rng = random.Random(f"{SEED}-slow")
    surface, path, body = ENDPOINTS[0]
    data = encode(body)
    cases = []
    for index in range(count(12)):
        kind = rng.choice(["stall after the head", "stall mid-body", "trickle", "endless chunk"])
        if kind == "stall after the head":
            raw = request_bytes(gwc_gateway, path, b"", framing=f"content-length: {len(data)}")
        elif kind == "stall mid-body":
            raw = request_bytes(gwc_gateway, path, data[: len(data) // 2],
                                framing=f"content-length: {len(data)}")
        elif kind == "endless chunk":
            raw = request_bytes(gwc_gateway, path, b"ffff\r\n" + data, framing="transfer-encoding: chunked")
        else:
            raw = request_bytes(gwc_gateway, path, data)
        cases.append((Case("slow", f"#{index} {kind}", surface, path=path, raw=raw), kind))

    def one(pair: tuple[Case, str]) -> None:
        case, kind = pair
        assert case.raw is not None
        status, headers, answer = raw_exchange(gwc_gateway, case.raw,
                                               pause=0.25 if kind == "trickle" else 0.0)
        FIGURES.record(case, status, judge(case, status, headers, answer))

    with ThreadPoolExecutor(len(cases)) as pool:
        list(pool.map(one, cases))
    assert_no_problems("slow")


def test_afterwards_every_surface_still_serves(gwc_gateway: ServerHandle) -> None:
    with httpx.Client(timeout=30) as client:
        assert_every_surface_serves(client, gwc_gateway.url, TOKEN, f"{FIGURES.requests} bad requests")
    publish(FIGURES.summary("gateway"))
