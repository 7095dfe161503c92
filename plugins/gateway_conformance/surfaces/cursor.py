"""OpenAI Chat Completions (Cursor): routes, requests, the chunk grammar; OpenAI's error envelope.

From the Chat Completions reference (streaming): every chunk is a ``chat.completion.chunk``
with one id, tool calls are announced by index with their id and function name first, some
chunk carries a ``finish_reason``, usage comes in a last chunk when
``stream_options.include_usage`` asks for it, and the stream ends with ``data: [DONE]``.
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
    get,
    is_int,
    last_usage,
    parse,
    require_counts,
    usage_counts,
)
from gateway_conformance.surfaces.openai import check_error


def request(model: str, prompt: str, *, stream: bool, max_tokens: int = 512) -> Request:
    body: dict[str, Any] = {"model": model, "stream": stream, "max_tokens": max_tokens,
                            "messages": [{"role": "user", "content": prompt}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return "/chat/completions", body


def check_stream(events: Events, sink: Sink) -> None:
    if not sink.require(bool(events), "chat.grammar", "empty stream"):
        return
    sink.require(events[-1][1] == "[DONE]", "chat.grammar",
                 f"stream must end with data: [DONE], last is {events[-1][1]!r:.60}")
    chunks = [(n, parse(data)) for n, (_, data) in enumerate(events) if data != "[DONE]"]
    sink.require(len(chunks) == len(events) - 1, "chat.grammar", "[DONE] must appear once, last")
    finish_seen = False
    first_id = None
    tool_ids: dict[int, bool] = {}
    for n, chunk in chunks:
        if not sink.require(isinstance(chunk, dict), "chat.chunk", f"event {n}: data is not JSON"):
            continue
        if "error" in chunk:
            check_error(chunk, None, sink, "chat.stream_error")
            continue
        sink.require(chunk.get("object") == "chat.completion.chunk", "chat.chunk",
                     f"event {n}: object {chunk.get('object')!r}")
        first_id = first_id or chunk.get("id")
        sink.require(isinstance(chunk.get("id"), str) and chunk.get("id") == first_id, "chat.chunk",
                     f"event {n}: id missing or changed mid-stream")
        choices = chunk.get("choices")
        if not sink.require(isinstance(choices, list), "chat.chunk", f"event {n}: choices missing"):
            continue
        for choice in choices:
            finish_seen = finish_seen or choice.get("finish_reason") is not None
            for call in get(choice, "delta", "tool_calls") or []:
                index = call.get("index")
                if not sink.require(is_int(index), "chat.tool_calls", f"event {n}: tool call without index"):
                    continue
                if index not in tool_ids:
                    tool_ids[index] = True
                    sink.require(isinstance(call.get("id"), str) and isinstance(
                        get(call, "function", "name"), str), "chat.tool_calls",
                        f"event {n}: first delta of tool call {index} lacks id or function.name")
    sink.require(finish_seen, "chat.grammar", "no chunk carries a finish_reason")


def check_json(body: dict[str, Any], sink: Sink) -> None:
    sink.require(body.get("object") == "chat.completion", "chat.json", f"object {body.get('object')!r}")
    sink.require(isinstance(body.get("id"), str), "chat.json", "id missing")
    message = get(body, "choices", 0, "message")
    if sink.require(isinstance(message, dict), "chat.json", "choices[0].message missing"):
        sink.require(message.get("role") == "assistant", "chat.json", "message.role is not assistant")
    sink.require(get(body, "choices", 0, "finish_reason") is not None, "chat.json", "finish_reason missing")
    require_counts(sink, body.get("usage"), "prompt_tokens", "completion_tokens", "chat.json",
                   "usage prompt_tokens/completion_tokens missing")


def usage(body: Any) -> tuple[int | None, int | None]:
    return usage_counts(get(body, "usage"), "prompt_tokens", "completion_tokens")


def stream_usage(datas: Iterable[str]) -> tuple[int | None, int | None]:
    """The last chunk with ``usage`` (``stream_options.include_usage``)."""
    return last_usage(datas, lambda e: e if "usage" in e else None, usage)


def text(body: Any) -> str:
    return str(get(body, "choices", 0, "message", "content") or "")


SURFACE = Surface(
    name="cursor", protocol="OpenAI Chat Completions",
    routes=Routes(generate=("/chat/completions",), models="/models"),
    model_in="body", listing=("data", "id"), listing_prefix="", listing_object="list",
    count_field=None, request=request, count_tokens_request=None,
    check_stream=check_stream, check_json=check_json, check_error=check_error,
    usage=usage, stream_usage=stream_usage, text=text)
