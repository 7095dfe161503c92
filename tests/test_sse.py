"""The one SSE codec: lossless round trips, any chunking, CRLF/CR line endings, cut streams."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_conformance.sse import SSEEvent, SSEParser, encode_event, parse_events

# Field values never contain line breaks (the wire format cannot carry them in one field).
line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30)
events = st.builds(
    SSEEvent,
    data=st.none() | st.lists(line_text, min_size=1, max_size=3).map("\n".join),
    event=st.none() | line_text.filter(lambda s: not s.startswith(" ")),
    id=st.none() | line_text.filter(lambda s: not s.startswith(" ")),
    comments=st.lists(line_text, max_size=2).map(tuple),
).filter(lambda e: e.data is not None or e.event is not None or e.id is not None or e.comments)


def _split(blob: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(blob) + 1) for c in cuts})
    return [blob[a:b] for a, b in zip([0, *points], [*points, len(blob)], strict=True)]


@given(st.lists(events, min_size=1, max_size=6), st.lists(st.integers(0, 10_000), max_size=8))
def test_canonical_round_trip_under_any_chunking(sent: list[SSEEvent], cuts: list[int]) -> None:
    blob = b"".join(e.canonical() for e in sent)
    received = list(parse_events(_split(blob, cuts)))
    assert received == sent
    assert b"".join(e.encode() for e in received) == blob
    assert all(e.is_lossless() for e in received)


@given(st.lists(events, min_size=1, max_size=4), st.sampled_from([b"\r\n", b"\r"]),
       st.lists(st.integers(0, 10_000), max_size=8))
def test_foreign_line_endings_parse_the_same_and_replay_byte_for_byte(
        sent: list[SSEEvent], ending: bytes, cuts: list[int]) -> None:
    # A lone CR might still become CRLF, so the parser holds a final CR until the next byte:
    # a trailing LF-framed event gives it one (a stream that ends in a bare CR stays pending).
    tail = SSEEvent(data="end")
    blob = b"".join(e.canonical().replace(b"\n", ending) for e in sent) + tail.canonical()
    received = list(parse_events(_split(blob, cuts)))
    assert received == [*sent, tail]
    assert b"".join(e.encode() for e in received) == blob
    assert not any(e.is_lossless() for e in received[:-1])


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == []
    (event,) = parser.feed(b"\n")
    assert event.data == "a" and event.raw == b"data: a\r\n\r\n"


@pytest.mark.parametrize(("wire", "data"), [
    (b"data:x\n\n", "x"),  # no space after the colon
    (b"data:  x\n\n", " x"),  # only one leading space is dropped
    (b"data\n\n", ""),  # a field name alone means an empty value
    (b"data: a\ndata: b\n\n", "a\nb"),
])
def test_data_field_rules(wire: bytes, data: str) -> None:
    (event,) = SSEParser().feed(wire)
    assert event.data == data and event.encode() == wire


def test_retry_unknown_fields_and_comments() -> None:
    (event,) = SSEParser().feed(b": keep-alive\nretry: 250\nfoo: ignored\nevent: ping\n\n")
    assert (event.comments, event.retry, event.event, event.data) == ((" keep-alive",), 250, "ping", None)


def test_cut_stream_leaves_the_partial_event_in_close() -> None:
    parser = SSEParser()
    assert [e.data for e in parser.feed(b"data: 1\n\ndata: 2\nevent: x\n")] == ["1"]
    assert parser.close() == b"data: 2\nevent: x\n"
    assert parser.close() == b""


def test_stray_blank_lines_stay_with_the_next_event() -> None:
    (event,) = SSEParser().feed(b"\n\ndata: z\n\n")
    assert event.data == "z" and event.raw == b"\n\ndata: z\n\n"


def test_encode_event_is_the_canonical_form() -> None:
    assert encode_event('{"a":1}', event="message_start") == b'event: message_start\ndata: {"a":1}\n\n'
    assert encode_event("", comments=["hi"]) == b":hi\ndata:\n\n"
