"""Record through the proxy, replay through the mock: same bytes, same rhythm, findings not crashes.

Timing tolerance (stated, generous for a shared 2-core machine): at speed 1 a replayed
inter-event gap is at most ``GAP_EARLY_MS`` shorter and at most ``GAP_LATE_MS`` longer than the
recorded gap (a loaded machine delays events; it never hurries them). The injected upstream delays
(``GAP_S``) are much larger than that, so a replay that ignored timing could not pass, and
accelerated replay must take well under the recorded duration.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway_conformance import traffic_cmd
from gateway_conformance.server import ServerHandle
from gateway_conformance.sse import SSEParser, encode_event
from gateway_conformance.traffic.cassette import Cassette, Metadata
from gateway_conformance.traffic.record import recording
from gateway_conformance.traffic.replay import mount, outgoing_headers, replay_as_client

GAP_S = 0.15
GAP_EARLY_MS = 60.0
GAP_LATE_MS = 120.0
PATH = "/anthropic/v1/messages"
MODEL = "databricks-claude-opus-4-6"
TOKEN = "gwc-recording"
RERECORD = "gateway-conformance record x"


def _anthropic_events() -> list[bytes]:
    """A valid Messages stream; two events in wire forms a canonical writer would not use."""
    start = {"type": "message_start", "message": {
        "id": "msg_rec", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}
    return [
        encode_event(json.dumps(start), event="message_start"),
        b": upstream keep-alive\r\n\r\n",
        b'event: content_block_start\r\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\r\n\r\n',
        encode_event('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
                     event="content_block_delta"),
        encode_event('{"type":"content_block_stop","index":0}', event="content_block_stop"),
        encode_event('{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}',
                     event="message_delta"),
        encode_event('{"type":"message_stop"}', event="message_stop"),
    ]


class Upstream:
    """A tiny upstream with injected delays; notes when it produced each event."""

    def __init__(self) -> None:
        self.produced: list[float] = []
        self.broken = False
        self.gap = 0.0  # seconds between events; the timing tests inject GAP_S
        self.app = Starlette(routes=[Route(PATH, self.messages, methods=["POST"])])

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        if body.get("fail"):
            return JSONResponse({"type": "error", "error": {"type": "rate_limit_error",
                                                           "message": "slow down"}}, status_code=429)
        events = _anthropic_events()[:-1] if self.broken else _anthropic_events()

        async def stream() -> AsyncIterator[bytes]:
            for n, event in enumerate(events):
                if n and self.gap:
                    await asyncio.sleep(self.gap)
                self.produced.append(time.perf_counter())
                yield event
        return StreamingResponse(stream(), media_type="text/event-stream")


@pytest.fixture
def gwc_upstream() -> Iterator[tuple[Upstream, ServerHandle]]:
    up = Upstream()
    with ServerHandle(up.app, name="upstream") as handle:
        yield up, handle


def _request_body(**extra: object) -> dict[str, object]:
    return {"model": MODEL, "max_tokens": 20, "stream": True,
            "metadata": {"user_id": "user_abc_session_1"},
            "system": "Session 123e4567-e89b-12d3-a456-426614174000 started 2026-11-28T10:00:00Z",
            "messages": [{"role": "user", "content": "hello"}], **extra}


def _timed_stream(client: httpx.Client, url: str, **kwargs: object) -> tuple[int, bytes, list[float], float]:
    """(status, body, arrival time of each event in ms after sending, total ms)."""
    parser, arrivals, body = SSEParser(), [], b""
    t0 = time.perf_counter()
    with client.stream("POST", url, **kwargs) as resp:  # type: ignore[arg-type]
        for chunk in resp.iter_bytes():
            body += chunk
            arrivals += [(time.perf_counter() - t0) * 1000] * len(parser.feed(chunk))
        status = resp.status_code
    return status, body, arrivals, (time.perf_counter() - t0) * 1000


def _record(handle: ServerHandle, bodies: list[dict[str, object]]) -> Cassette:
    with recording(handle.url) as (proxy, ph), httpx.Client(timeout=30) as client:
        for body in bodies:
            _timed_stream(client, ph.url + PATH, json=body, headers={"authorization": f"Bearer {TOKEN}"})
        meta = Metadata(agent="t", surface="anthropic", rerecord=RERECORD)
        return proxy.cassette(meta, known_secrets=[TOKEN])


Up = tuple[Upstream, ServerHandle]


def test_proxy_passes_stream_through_unchanged_and_unbuffered(gwc_upstream: Up) -> None:
    up, handle = gwc_upstream
    up.gap = GAP_S
    with recording(handle.url) as (_, ph), httpx.Client(timeout=30) as client:
        t_sent = time.perf_counter()
        status, body, arrivals, _ = _timed_stream(client, ph.url + PATH, json=_request_body())
    assert status == 200
    assert body == b"".join(_anthropic_events())
    first_arrival = t_sent + arrivals[0] / 1000
    assert first_arrival < up.produced[-1], "the first event reached the client before the last was produced"


def test_round_trip_is_byte_identical_and_keeps_timing(gwc_upstream: Up, gwc_gateway,
                                                        # type: ignore[no-untyped-def]
                                                       gwc_clean_gateway, tmp_path: Path) -> None:
    up, handle = gwc_upstream
    up.gap = GAP_S
    cassette = Cassette.load(_record(handle, [_request_body()]).save(tmp_path / "t.json"))
    recorded = cassette.interactions[0].response
    assert recorded.events is not None and len(recorded.events) == len(_anthropic_events())
    rec_gaps = [b.t_ms - a.t_ms for a, b in itertools.pairwise(recorded.events)]
    assert min(rec_gaps) > GAP_S * 1000 * 0.8, "the recording kept the injected delays"

    headers = outgoing_headers(cassette.interactions[0].request, gwc_gateway.token)
    try:
        with httpx.Client(timeout=30) as client:
            mount(gwc_clean_gateway, [cassette], speed=1.0)
            status, body, arrivals, real_ms = _timed_stream(client, gwc_gateway.url + PATH,
                                                            json=_request_body(),
                                                            headers=headers)
            assert status == 200
            assert body == b"".join(_anthropic_events()), "replayed bytes are the upstream's bytes"
            gaps = [b - a for a, b in itertools.pairwise(arrivals)]
            for n, (got, want) in enumerate(zip(gaps, rec_gaps, strict=True)):
                assert -GAP_EARLY_MS <= got - want <= GAP_LATE_MS, \
                    f"gap {n}: {got:.0f} ms, recorded {want:.0f} ms"

            mount(gwc_clean_gateway, [cassette], speed=20.0)
            status, fast_body, _, fast_ms = _timed_stream(client, gwc_gateway.url + PATH,
                                                          json=_request_body(),
                                                          headers=headers)
            assert fast_body == body
            assert fast_ms < real_ms / 3, f"accelerated replay {fast_ms:.0f} ms vs {real_ms:.0f} ms"
    finally:
        gwc_clean_gateway.replay = None


def test_matching_ignores_volatile_fields_and_serves_retries_in_order(  # type: ignore[no-untyped-def]
        gwc_upstream: Up, gwc_gateway, gwc_clean_gateway) -> None:
    _, handle = gwc_upstream
    cassette = _record(handle, [_request_body(fail=True), _request_body(fail=True)])
    success = _record(handle, [_request_body()]).interactions[0].response
    cassette.interactions[1].response = copy.deepcopy(success)
    volatile = _request_body(fail=True)
    volatile["metadata"] = {"user_id": "someone_else"}
    volatile["system"] = "Session 00000000-1111-2222-3333-444444444444 started 2027-01-01T00:00:00Z"
    headers = {"authorization": f"Bearer {gwc_gateway.token.reveal()}"}
    try:
        mount(gwc_clean_gateway, [cassette], speed=math.inf)
        with httpx.Client(base_url=gwc_gateway.url, timeout=30) as client:
            first = client.post(PATH, json=volatile, headers=headers)
            second = client.post(PATH, json=volatile, headers=headers)
            again = client.post(PATH, json=volatile, headers=headers)
            other = _request_body(fail=True, messages=[{"role": "user", "content": "x"}])
            miss = client.post(PATH, json=other, headers=headers)
            unauthenticated = client.post(PATH, json=volatile, headers={"authorization": "Bearer wrong"})
    finally:
        gwc_clean_gateway.replay = None
    assert first.status_code == 429 and first.json()["error"]["message"] == "slow down"
    assert second.status_code == 200 and second.content == b"".join(_anthropic_events())
    assert again.status_code == 200, "once all are served, the last match repeats"
    assert miss.status_code == 400
    error = miss.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    message = error["error"]["message"]
    assert "t/<unsaved>" in message and RERECORD in message and "body.messages[0].content" in message
    assert unauthenticated.status_code == 401, "auth still applies to replayed surfaces"


def test_client_replay_reports_differences_as_findings(gwc_upstream: Up) -> None:
    up, handle = gwc_upstream
    cassette = _record(handle, [_request_body(), _request_body(fail=True)])
    assert replay_as_client(cassette, handle.url, token="t").errors == []

    up.broken = True  # drops message_stop
    result = replay_as_client(cassette, handle.url, token="t")
    checks = {(f.index, f.check) for f in result.errors}
    assert (0, "anthropic.grammar") in checks
    assert "message_stop" in result.report()

    cassette.interactions[1].response.status = 500
    result = replay_as_client(cassette, handle.url, token="t")
    assert any(f.index == 1 and f.check == "status" and "recorded 500" in f.message for f in result.errors)

    with ServerHandle(Starlette()) as closed:
        url = closed.url
    result = replay_as_client(cassette, url, token="t", timeout=2)
    assert {f.check for f in result.errors} == {"transport"}


def test_replay_command_exit_status(gwc_upstream: Up, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    up, handle = gwc_upstream
    path = _record(handle, [_request_body()]).save(tmp_path / "c.json")
    parser = argparse.ArgumentParser()
    traffic_cmd.replay.add_arguments(parser)
    monkeypatch.setenv("GATEWAY_CONFORMANCE_TOKEN", "t")
    assert traffic_cmd.replay.run(parser.parse_args([str(path), "--target", handle.url])) == 0
    up.broken = True
    assert traffic_cmd.replay.run(parser.parse_args([str(path), "--target", handle.url])) == 1
    assert "anthropic.grammar" in capsys.readouterr().out
