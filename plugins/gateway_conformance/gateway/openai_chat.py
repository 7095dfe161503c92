"""The OpenAI Chat Completions surface (``/cursor/v1``), what Cursor's "Override OpenAI Base URL" speaks.

The stream is the classic ``chat.completion.chunk`` sequence: a first chunk with the
assistant role, content deltas, tool calls announced with ``index``/``id``/``name`` and then
argument fragments under the same ``index``, a chunk with ``finish_reason``, a usage chunk
(empty ``choices``) when ``stream_options.include_usage`` asks for it, and ``data: [DONE]``.
No ``event:`` lines: OpenAI sends none on this API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from gateway_conformance.gateway import openai_common as oa
from gateway_conformance.gateway.turns import (
    ChatRequest,
    Endpoint,
    Reply,
    StopReason,
    Surface,
    stream_pieces,
)
from gateway_conformance.sse import encode_event

NAME = "cursor"
PREFIX = "/cursor/v1"

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TEXT_PARTS = frozenset({"text"})
_FINISH: dict[StopReason, str] = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def parse_request(body: dict[str, Any], path_params: dict[str, str]) -> ChatRequest:
    body = oa.require_object(body)
    model = oa.require_model(body)
    messages = body.get("messages")
    if messages is None:
        raise oa.invalid("Missing required parameter: 'messages'.", "messages")
    if not isinstance(messages, list) or not messages:
        raise oa.invalid("Invalid 'messages': expected a non-empty array.", "messages")
    prompt, results = "", []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise oa.invalid(f"Invalid type for '{param}': expected an object.", param)
        role = message.get("role")
        if not (isinstance(role, str) and role in _ROLES):
            raise oa.invalid(f"Invalid value for '{param}.role': expected one of "
                             f"{', '.join(sorted(_ROLES))}.", f"{param}.role")
        text = oa.text_of(message.get("content"), f"{param}.content", _TEXT_PARTS)
        if role == "user":
            prompt = text
        elif role == "tool":
            if not isinstance(message.get("tool_call_id"), str):
                raise oa.invalid(f"Missing required parameter: '{param}.tool_call_id'.",
                                 f"{param}.tool_call_id")
            results.append(text)
    stream = oa.optional_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise oa.invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                             "stream_options")
        if not isinstance(options, dict):
            raise oa.invalid("Invalid type for 'stream_options': expected an object.", "stream_options")
        oa.optional_bool(options, "include_usage")
    tools = tuple(_tool_name(i, tool) for i, tool in enumerate(oa.optional_list(body, "tools")))
    limits = [oa.optional_positive_int(body, key) for key in ("max_completion_tokens", "max_tokens")]
    max_tokens = next((limit for limit in limits if limit is not None), None)
    return ChatRequest(surface=NAME, model=model, stream=stream, prompt=prompt, tools=tools,
                       tool_results=tuple(results), max_tokens=max_tokens, raw=body)


def _tool_name(i: int, tool: object) -> str:
    param = f"tools[{i}]"
    function = tool.get("function") if isinstance(tool, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise oa.invalid(f"Missing required parameter: '{param}.function.name'.", f"{param}.function.name")
    return name


def _usage(reply: Reply) -> dict[str, Any]:
    return {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}}


def _arguments(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, separators=(",", ":"))


def render_json(reply: Reply, request: ChatRequest) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant",
                               "content": reply.text if reply.text or not reply.tool_calls else None,
                               "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": _arguments(call.arguments)}}
                                 for call in reply.tool_calls]
    return {"id": oa.new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
            "model": request.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": _FINISH[reply.stop_reason]}],
            "usage": _usage(reply)}


def render_stream(reply: Reply, request: ChatRequest) -> Iterator[bytes]:
    options = request.raw.get("stream_options") or {}
    include_usage = options.get("include_usage") is True
    head = {"id": oa.new_id("chatcmpl-"), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": request.model, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                        "finish_reason": finish}]}
        if include_usage:
            payload["usage"] = None
        return encode_event(json.dumps(payload, separators=(",", ":")))

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in stream_pieces(reply.text):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        yield chunk({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                     "function": {"name": call.name, "arguments": ""}}]})
        for piece in stream_pieces(_arguments(call.arguments)):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _FINISH[reply.stop_reason])
    if include_usage:
        yield encode_event(json.dumps({**head, "choices": [], "usage": _usage(reply)},
                                      separators=(",", ":")))
    yield encode_event("[DONE]")


SURFACE = Surface(
    name=NAME,
    prefix=PREFIX,
    endpoints=(
        Endpoint("POST", "/chat/completions", "generate"),
        Endpoint("GET", "/models", "models"),
    ),
    parse_request=parse_request,
    render_json=render_json,
    render_stream=render_stream,
    error_body=oa.error_body,
    models_body=oa.models_body,
)
