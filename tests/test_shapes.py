"""shapes.py judges raw answers: valid ones give no finding, each broken rule gives its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway_conformance.traffic.shapes import check_raw, endpoint_kind

SSE = {"Content-Type": "text/event-stream"}
JSON = {"Content-Type": "application/json"}


def sse(*payloads: Any, named: bool = True) -> bytes:
    out = b""
    for p in payloads:
        data = p if isinstance(p, str) else json.dumps(p)
        name = f"event: {p['type']}\n" if named and isinstance(p, dict) and "type" in p else ""
        out += f"{name}data: {data}\n\n".encode()
    return out


def anthropic(*, drop: str | None = None, delta_input: int = 5) -> list[dict[str, Any]]:
    events = [
        {"type": "message_start", "message": {"id": "m", "model": "x", "usage": {"input_tokens": 5,
                                                                                 "output_tokens": 1}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"input_tokens": delta_input, "output_tokens": 2}},
        {"type": "message_stop"},
    ]
    return [e for e in events if e["type"] != drop]


def responses(*, drop: str | None = None) -> list[dict[str, Any]]:
    events = [
        {"type": "response.created", "response": {"id": "r", "model": "x"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "hi"},
        {"type": "response.output_item.done", "output_index": 0, "item": {"type": "message"}},
        {"type": "response.completed", "response": {"id": "r", "model": "x",
                                                    "usage": {"input_tokens": 1, "output_tokens": 1}}},
    ]
    return [e for e in events if e["type"] != drop]


CHAT_CHUNK = {"id": "c", "object": "chat.completion.chunk", "choices": [
    {"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
GEMINI_LAST = {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 2}}

VALID = [
    ("anthropic", "/anthropic/v1/messages", sse(*anthropic())),
    ("openai", "/openai/v1/responses", sse(*responses())),
    ("cursor", "/cursor/v1/chat/completions", sse(CHAT_CHUNK, "[DONE]")),
    ("gemini", "/gemini/v1beta/models/m:streamGenerateContent", sse(GEMINI_LAST)),
]


@pytest.mark.parametrize(("surface", "path", "body"), VALID, ids=[v[0] for v in VALID])
def test_valid_streams_have_no_findings(surface: str, path: str, body: bytes) -> None:
    assert check_raw(surface, "POST", path, 200, SSE, body) == []


BROKEN = [
    ("anthropic", sse(*anthropic(drop="message_stop")), "anthropic.grammar", "message_stop"),
    ("anthropic", sse(*anthropic(drop="message_start")), "anthropic.grammar", "message_start"),
    ("anthropic", sse(*anthropic(drop="content_block_stop")), "anthropic.blocks", "open"),
    ("anthropic", sse(*anthropic(delta_input=9)), "anthropic.usage", "input_tokens"),
    ("openai", sse(*responses(drop="response.output_item.added")), "responses.delta", "before output_item"),
    ("openai", sse(*responses(drop="response.completed")), "responses.grammar", "response.completed"),
    ("openai", sse(*responses(), named=False).replace(b'"type": "response.created", ', b""),
     "responses.event", "type"),
    ("cursor", sse(CHAT_CHUNK), "chat.grammar", "[DONE]"),
    ("cursor", sse({**CHAT_CHUNK, "choices": [{"index": 0, "delta": {}}]}, "[DONE]"), "chat.grammar",
     "finish_reason"),
    ("gemini", sse({"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}), "gemini.finish",
     "finishReason"),
    ("gemini", sse(GEMINI_LAST, "[DONE]"), "gemini.grammar", "[DONE]"),
]


@pytest.mark.parametrize(("surface", "body", "check", "words"), BROKEN)
def test_each_broken_rule_is_its_own_finding(surface: str, body: bytes, check: str, words: str) -> None:
    path = dict((v[0], v[1]) for v in VALID)[surface]
    findings = check_raw(surface, "POST", path, 200, SSE, body)
    assert any(f.check == check and words in f.message and f.severity == "error" for f in findings), findings


@pytest.mark.parametrize(("surface", "body", "ok"), [
    ("anthropic", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, True),
    ("anthropic", {"error": {"message": "slow"}}, False),
    ("openai", {"error": {"message": "slow", "type": "rate_limit_error", "code": None}}, True),
    ("cursor", {"error_code": "RATE_LIMIT", "message": "databricks shape"}, False),
    ("gemini", {"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}, True),
    ("gemini", {"error": {"code": 500, "message": "slow", "status": "INTERNAL"}}, False),
])
def test_error_envelopes(surface: str, body: dict[str, Any], ok: bool) -> None:
    path = {"anthropic": "/v1/messages", "openai": "/responses", "cursor": "/chat/completions",
            "gemini": "/v1beta/models/m:generateContent"}[surface]
    findings = check_raw(surface, "POST", path, 429, {**JSON, "Retry-After": "1"}, json.dumps(body).encode())
    assert (findings == []) is ok, findings


def _first_check(surface: str, method: str, path: str, status: int, headers: dict[str, str],
                 body: bytes) -> str | None:
    findings = check_raw(surface, method, path, status, headers, body)
    return findings[0].check if findings else None


def test_errors_must_be_json_and_streams_only_for_generation() -> None:
    html = {"content-type": "text/html"}
    assert _first_check("anthropic", "POST", "/v1/messages", 502, html, b"<html>") == "error.content-type"
    assert _first_check("openai", "GET", "/openai/v1/models", 200, SSE, b"data: {}\n\n") == "stream"
    listing = b'{"object":"list","data":[{"id":"m"}]}'
    assert _first_check("cursor", "GET", "/cursor/v1/models", 200, JSON, listing) is None
    assert _first_check("gemini", "GET", "/gemini/v1beta/models", 200, JSON, b'{"models":[{"name":"m"}]}') \
        == "models"
    assert endpoint_kind("anthropic", "POST", "/anthropic/v1/messages/count_tokens") == "count_tokens"
    count = b'{"input_tokens":"3"}'
    assert _first_check("anthropic", "POST", "/v1/messages/count_tokens", 200, JSON, count) == "count_tokens"


_ANTHROPIC_429 = json.dumps({"type": "error",
                             "error": {"type": "rate_limit_error", "message": "slow"}}).encode()


@pytest.mark.parametrize(("value", "ok"), [
    ("1", True), ("120", True), ("1.5", True), (" 7 ", True), ("Wed, 21 Oct 2015 07:28:00 GMT", True),
    ("abc", False), ("-1", False), ("", False), ("1e3", False), ("soon GMT", False), ("1,5", False),
    ("Infinity", False), ("Wed, 99 Oct 2015 07:28:00 GMT", False), ("60s", False),
])
def test_retry_after_must_be_seconds_or_an_http_date(value: str, ok: bool) -> None:
    """Issue 14 item 9: a check accepting any Retry-After went unnoticed; each bad value is named."""
    findings = check_raw("anthropic", "POST", "/v1/messages", 429, {**JSON, "Retry-After": value},
                         _ANTHROPIC_429)
    assert [f.check for f in findings] == ([] if ok else ["error.retry-after"]), findings


def test_replay_does_not_judge_the_media_type_of_a_bodiless_head() -> None:
    """Claude Code's HEAD on its base URL only asks "are you there": a gateway answering its
    root with an HTML page (LiteLLM) where the recording had JSON serves the agent as well."""
    from gateway_conformance.traffic.cassette import RecordedRequest, RecordedResponse
    from gateway_conformance.traffic.shapes import compare

    recorded = RecordedResponse(200, {"content-type": "application/json"})
    html = RecordedResponse(200, {"content-type": "text/html; charset=utf-8"})
    assert compare("anthropic", RecordedRequest("HEAD", "/"), recorded, html) == []
    assert "content-type" in {f.check for f in compare("anthropic", RecordedRequest("GET", "/v1/models"),
                                                        recorded, html)}
