"""The cassette format: lossless for SSE bytes, readable, stable and diffable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_conformance.sse import SSEParser
from gateway_conformance.traffic.cassette import (
    Cassette,
    CassetteError,
    Interaction,
    Metadata,
    RecordedRequest,
    RecordedResponse,
    clean_headers,
)

SSE = {"content-type": "text/event-stream"}

# Wire forms a canonical writer would not produce: CRLF and CR endings, no space after the
# colon, a comment line, id and retry fields, multi-line data, a stray blank line.
ODD_STREAM = (
    b": keep-alive\r\n\r\n"
    b"event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n"
    b"data:{\"no\":\"space\"}\n\n"
    b"\nid: 7\nretry: 1500\ndata: line one\ndata: line two\n\n"
    b"event: ping\rdata: {}\r\r"
    b"data: plain canonical\n\n"
)


def _cassette(resp: RecordedResponse) -> Cassette:
    req = RecordedRequest("POST", "/anthropic/v1/messages", [("beta", "true")],
                          {"content-type": "application/json"}, {"model": "m", "stream": True})
    return Cassette(Metadata(agent="a", surface="anthropic", agent_version="1.0",
                             recorded_at="2026-11-28T00:00:00Z", rerecord="gateway-conformance record"),
                    [Interaction(req, resp)])


def _roundtrip(cassette: Cassette, tmp_path: Path) -> Cassette:
    return Cassette.load(cassette.save(tmp_path / "c.json"))


def test_odd_stream_replays_byte_for_byte(tmp_path: Path) -> None:
    resp = RecordedResponse.from_body(200, SSE, ODD_STREAM + b"data: cut mid-ev")
    loaded = _roundtrip(_cassette(resp), tmp_path)
    assert loaded.interactions[0].response.body_bytes() == ODD_STREAM + b"data: cut mid-ev"


def test_raw_bytes_kept_only_where_canonical_form_differs(tmp_path: Path) -> None:
    resp = RecordedResponse.from_body(200, SSE, ODD_STREAM)
    events = json.loads(_cassette(resp).dumps())["interactions"][0]["response"]["events"]
    with_raw = [e for e in events if "raw" in e]
    assert events[-1] == {"data": "plain canonical", "t_ms": 0.0}, "canonical events store no raw bytes"
    assert {e.get("event") for e in with_raw} >= {"message_start", "ping"}
    assert events[3]["data"] == "line one\nline two" and events[3]["id"] == "7" and events[3]["retry"] == 1500
    assert events[0]["comments"] == [" keep-alive"]


def test_non_utf8_event_bytes_survive(tmp_path: Path) -> None:
    body = b"data: caf\xe9\r\n\r\n"
    loaded = _roundtrip(_cassette(RecordedResponse.from_body(200, SSE, body)), tmp_path)
    assert loaded.interactions[0].response.body_bytes() == body
    assert '"raw_b64"' in loaded.path.read_text()  # type: ignore[union-attr]


def test_file_layout_is_sorted_and_one_event_per_line(tmp_path: Path) -> None:
    resp = RecordedResponse.from_body(200, SSE, ODD_STREAM)
    text = _cassette(resp).dumps()
    assert text == _roundtrip(_cassette(resp), tmp_path).dumps(), "save/load/save is stable"
    event_lines = [line.strip().rstrip(",") for line in text.splitlines() if '"t_ms"' in line]
    assert len(event_lines) == 6
    for line in event_lines:
        obj = json.loads(line)
        assert list(obj) == sorted(obj), "keys inside an event are sorted"
    top = json.loads(text)
    assert list(top) == ["interactions", "meta"]
    assert list(top["meta"]) == sorted(top["meta"])


def test_json_bodies_are_data_and_exact_text_only_when_needed(tmp_path: Path) -> None:
    compact = RecordedResponse.from_body(200, {"content-type": "application/json"}, b'{"a":1,"b":[2]}')
    spaced = RecordedResponse.from_body(200, {"content-type": "application/json"}, b'{"a": 1,\n "b": [2]}')
    assert compact.body == {"a": 1, "b": [2]} and compact.body_text is None
    assert spaced.body == {"a": 1, "b": [2]} and spaced.body_text is not None
    loaded = _roundtrip(_cassette(spaced), tmp_path)
    assert loaded.interactions[0].response.body_bytes() == b'{"a": 1,\n "b": [2]}'


def test_metadata_round_trips_and_request_is_data(tmp_path: Path) -> None:
    cassette = _cassette(RecordedResponse.from_body(200, SSE, b"data: x\n\n"))
    cassette.meta.synthetic = True
    cassette.meta.ignore = ["messages.*.cache_control"]
    loaded = _roundtrip(cassette, tmp_path)
    assert loaded.meta == cassette.meta
    assert loaded.interactions[0].request.body == {"model": "m", "stream": True}
    assert loaded.interactions[0].request.query == [("beta", "true")]
    assert loaded.name == "a/c"


def test_hop_by_hop_headers_are_not_stored() -> None:
    headers = clean_headers({"Content-Type": "text/event-stream", "Content-Length": "9", "Date": "x",
                             "Transfer-Encoding": "chunked", "Request-Id": "r1"})
    assert headers == {"content-type": "text/event-stream", "request-id": "r1"}


def test_unreadable_cassette_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"meta": {"format": 99, "agent": "a", "surface": "anthropic"}}')
    with pytest.raises(CassetteError, match=r"bad\.json.*format 99"):
        Cassette.load(bad)
    bad.write_text("{not json")
    with pytest.raises(CassetteError, match=r"bad\.json"):
        Cassette.load(bad)


_line = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
_field = st.sampled_from(["data", "event", "id", "retry", ""])


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    """Arbitrary SSE-ish streams: any field lines, comments, any line endings."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        for _ in range(draw(st.integers(0, 4))):
            name, value = draw(_field), draw(_line)
            sep = draw(st.sampled_from([": ", ":", ""]))
            line = f":{value}" if name == "" else f"{name}{sep}{value}" if sep else name
            out.append(line + draw(st.sampled_from(["\n", "\r\n", "\r"])))
        out.append(draw(st.sampled_from(["\n", "\r\n"])))
    return "".join(out).encode()


@settings(max_examples=150, deadline=None)
@given(stream=_streams(), tail=st.binary(max_size=8).filter(lambda b: b"\n" not in b and b"\r" not in b))
def test_any_stream_is_lossless(stream: bytes, tail: bytes) -> None:
    body = stream + tail
    resp = RecordedResponse.from_body(200, SSE, body)
    loaded = Cassette.from_json(json.loads(_cassette(resp).dumps()))
    assert loaded.interactions[0].response.body_bytes() == body
    # and the cassette's events are what the parser sees in the same bytes
    parser = SSEParser()
    assert [e.event for e in loaded.interactions[0].response.events or []] == parser.feed(body)
