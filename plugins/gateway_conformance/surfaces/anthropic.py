"""Anthropic Messages (Claude Code): routes, requests, the stream grammar and the envelopes.

From the Messages API reference (streaming events, errors) and Claude Code's gateway protocol
page: a stream opens with ``message_start``, numbers its content blocks from 0, closes each,
ends with ``message_delta`` (stop reason, usage) and ``message_stop``; an error mid-stream is
an ``error`` event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway_conformance.surfaces.base import (
    Events,
    Request,
    Routes,
    Sink,
    Surface,
    error_message,
    get,
    is_int,
    json_events,
    require_counts,
    typed_payloads,
    usage_counts,
)

_DELTAS = {"text": {"text_delta"}, "tool_use": {"input_json_delta"}, "server_tool_use": {"input_json_delta"},
           "thinking": {"thinking_delta", "signature_delta"}, "redacted_thinking": set()}
_STOPS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
          "model_context_window_exceeded"}
# The error type of each HTTP status (the API reference's errors page).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 503: "overloaded_error", 529: "overloaded_error"}


def request(model: str, prompt: str, *, stream: bool, max_tokens: int = 512) -> Request:
    return "/v1/messages", {"model": model, "max_tokens": max_tokens, "stream": stream,
                            "messages": [{"role": "user", "content": prompt}]}


def count_tokens_request(model: str, text: str) -> Request:
    return "/v1/messages/count_tokens", {"model": model, "messages": [{"role": "user", "content": text}]}


def check_error(body: dict[str, Any], status: int | None, sink: Sink, check: str, *,
                exact: bool = False) -> None:
    """``{"type": "error", "error": {"type", "message"}}``; ``exact``: the status's own type."""
    error = error_message(body, sink, check, exact=exact)
    if error is None:
        return
    sink.require(body.get("type") == "error", check, "Anthropic errors have type 'error'")
    sink.require(isinstance(error.get("type"), str), check, "error.type missing")
    if exact and status in ERROR_TYPES:
        sink.require(error.get("type") == ERROR_TYPES[status], check,
                     f"error.type {error.get('type')!r} for {status}, required {ERROR_TYPES[status]!r}")


def check_stream(events: Events, sink: Sink) -> None:
    payloads = [p for p in typed_payloads(events, sink, "anthropic.event") if p["type"] != "ping"]
    if not sink.require(bool(payloads), "anthropic.grammar", "empty stream"):
        return
    errored = payloads[-1]["type"] == "error"  # an overloaded_error mid-stream ends it early
    if errored:
        check_error(payloads[-1], None, sink, "anthropic.stream_error")
        payloads = payloads[:-1]
        if not payloads:
            return
    else:
        sink.require(payloads[-1]["type"] == "message_stop", "anthropic.grammar",
                     f"stream must close with message_stop, last is {payloads[-1]['type']}")
    first = payloads[0]
    if not sink.require(first["type"] == "message_start", "anthropic.grammar",
                        f"stream must open with message_start, first is {first['type']}"):
        return
    message = first.get("message") or {}
    for key in ("id", "model"):
        sink.require(isinstance(message.get(key), str), "anthropic.message_start", f"message.{key} missing")
    start_usage = message.get("usage") or {}
    sink.require(is_int(start_usage.get("input_tokens")), "anthropic.usage",
                 "message_start usage.input_tokens missing")
    open_blocks: dict[int, str] = {}
    next_index = 0
    delta_seen = False
    for p in payloads[1:]:
        kind = p["type"]
        index = p.get("index")
        if kind == "content_block_start":
            block = p.get("content_block") or {}
            sink.require(index == next_index, "anthropic.blocks",
                         f"content_block_start index {index}, expected {next_index}")
            open_blocks[index] = block.get("type", "?")
            next_index += 1
        elif kind == "content_block_delta":
            if not sink.require(index in open_blocks, "anthropic.blocks",
                                f"delta for block {index} that is not open"):
                continue
            allowed = _DELTAS.get(open_blocks[index])
            dtype = get(p, "delta", "type")
            if allowed is not None:
                sink.require(dtype in allowed, "anthropic.blocks",
                             f"{dtype} inside a {open_blocks[index]} block")
        elif kind == "content_block_stop":
            sink.require(open_blocks.pop(index, None) is not None, "anthropic.blocks",
                         f"content_block_stop for block {index} that is not open")
        elif kind == "message_delta":
            sink.require(not open_blocks, "anthropic.blocks",
                         f"message_delta while blocks {sorted(open_blocks)} are open")
            delta_seen = True
            stop = get(p, "delta", "stop_reason")
            sink.require(stop in _STOPS, "anthropic.message_delta", f"stop_reason {stop!r}")
            usage = p.get("usage") or {}
            if sink.require(is_int(usage.get("output_tokens")), "anthropic.usage",
                            "message_delta usage.output_tokens missing"):
                sink.require(usage["output_tokens"] >= (start_usage.get("output_tokens") or 0),
                             "anthropic.usage", "message_delta output_tokens below message_start's")
            for key in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
                if usage.get(key) is not None and start_usage.get(key) is not None:
                    sink.require(usage[key] == start_usage[key], "anthropic.usage",
                                 f"{key}: message_delta says {usage[key]}, message_start {start_usage[key]}")
        elif kind == "message_start":
            sink.fail("anthropic.grammar", "second message_start")
    if not errored:
        sink.require(delta_seen, "anthropic.grammar", "no message_delta (stop_reason and usage)")
        sink.require(not open_blocks, "anthropic.blocks", f"blocks {sorted(open_blocks)} never stopped")


def check_json(body: dict[str, Any], sink: Sink) -> None:
    sink.require(body.get("type") == "message", "anthropic.message", f"type {body.get('type')!r}")
    for key in ("id", "model"):
        sink.require(isinstance(body.get(key), str), "anthropic.message", f"{key} missing")
    sink.require(body.get("role") == "assistant", "anthropic.message", "role is not assistant")
    sink.require(isinstance(body.get("content"), list), "anthropic.message", "content is not a list")
    sink.require(body.get("stop_reason") in _STOPS, "anthropic.message",
                 f"stop_reason {body.get('stop_reason')!r}")
    require_counts(sink, body.get("usage"), "input_tokens", "output_tokens", "anthropic.usage",
                   "usage.input_tokens/output_tokens missing")


def usage(body: Any) -> tuple[int | None, int | None]:
    return usage_counts(get(body, "usage"), "input_tokens", "output_tokens")


def stream_usage(datas: Iterable[str]) -> tuple[int | None, int | None]:
    """Input from ``message_start``, output from the last ``message_delta``."""
    found: tuple[int | None, int | None] = (None, None)
    for event in json_events(datas):
        if event.get("type") == "message_start":
            found = usage(event.get("message"))[0], found[1]
        elif event.get("type") == "message_delta":
            found = found[0], usage(event)[1]
    return found


def text(body: Any) -> str:
    content = get(body, "content")
    if not isinstance(content, list):
        return ""
    return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")


SURFACE = Surface(
    name="anthropic", protocol="Anthropic Messages",
    routes=Routes(generate=("/v1/messages",), models="/v1/models", count_tokens="/v1/messages/count_tokens"),
    model_in="body", listing=("data", "id"), listing_prefix="", listing_object=None,
    count_field="input_tokens", request=request, count_tokens_request=count_tokens_request,
    check_stream=check_stream, check_json=check_json, check_error=check_error,
    usage=usage, stream_usage=stream_usage, text=text,
    agent_headers={"anthropic-version": "2023-06-01",  # Claude Code's protocol and session headers
                   "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
                   "x-claude-code-session-id": "4b1c8f0e-2a57-4d39-9a0c-6f2e1d3b5a79"})
