"""The Anthropic Messages surface (``/anthropic``), what Claude Code speaks.

Pure translation: Messages bodies to :class:`ChatRequest`, replies back to a Message or
to the SSE sequence Claude Code requires (``message_start`` first with usage,
content blocks each opened and stopped, ``message_delta`` whose usage agrees with the
start, ``message_stop`` last). Error wording follows Anthropic's API because Claude Code's
recovery matches on it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gateway_conformance.gateway.turns import (
    ChatRequest,
    Endpoint,
    ErrorKind,
    GatewayError,
    Reply,
    Surface,
    ToolCall,
    stream_pieces,
)
from gateway_conformance.sse import encode_event

NAME = "anthropic"
PREFIX = "/anthropic"
JSON_PIECE_CHARS = 16  # input_json_delta chunk size: small enough that the SDK must assemble

_ERROR_TYPES: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "api_error": "api_error",
    "overloaded": "overloaded_error",
}


def _invalid(message: str) -> GatewayError:
    return GatewayError(400, "invalid_request", message)


def _text_of(content: Any, where: str) -> tuple[str, tuple[str, ...]]:
    """(text, tool results) of one message's content: a string or a list of blocks."""
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise _invalid(f"{where}.content: Input should be a valid string or list")
    texts: list[str] = []
    results: list[str] = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _invalid(f"{where}.content.{i}: Input should be a valid dictionary with a 'type'")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                raise _invalid(f"{where}.content.{i}.text: Field required")
            texts.append(block["text"])
        elif block["type"] == "tool_result":
            inner = block.get("content", "")
            results.append(inner if isinstance(inner, str) else _text_of(inner, f"{where}.content.{i}")[0])
    return "".join(texts), tuple(results)


def parse_request(body: dict[str, Any], path_params: dict[str, str]) -> ChatRequest:
    """Validate like the Messages API does (field paths in the message) and take the last user turn.

    ``max_tokens`` is checked when present but not required, because ``count_tokens`` bodies
    share this parser and omit it.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens < 1):
        raise _invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _invalid("stream: Input should be a valid boolean")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: Field required" if messages is None
                       else "messages: at least one message is required")
    prompt, results = "", ()
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        text, tool_results = _text_of(message.get("content"), f"messages.{i}")
        if message["role"] == "user":
            prompt, results = text, tool_results
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise _invalid("tools: Input should be a valid list of tool definitions")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise _invalid("system: Input should be a valid string or list")
    return ChatRequest(surface=NAME, model=model, stream=stream, prompt=prompt,
                       tools=tuple(str(t.get("name", "")) for t in tools), tool_results=results,
                       max_tokens=max_tokens, raw=body)


def _usage(reply: Reply) -> dict[str, int]:
    return {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _tool_block(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


def _has_text_block(reply: Reply) -> bool:
    return bool(reply.text) or not reply.tool_calls


def _message(reply: Reply, request: ChatRequest, content: list[dict[str, Any]],
             usage: dict[str, int], stop_reason: str | None) -> dict[str, Any]:
    return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "model": request.model, "content": content, "stop_reason": stop_reason,
            "stop_sequence": None, "usage": usage}


def render_json(reply: Reply, request: ChatRequest) -> dict[str, Any]:
    content = [{"type": "text", "text": reply.text}] if _has_text_block(reply) else []
    content += [_tool_block(call) for call in reply.tool_calls]
    return _message(reply, request, content, _usage(reply), reply.stop_reason)


def _event(payload: dict[str, Any]) -> bytes:
    return encode_event(json.dumps(payload, separators=(",", ":")), event=payload["type"])


def render_stream(reply: Reply, request: ChatRequest) -> Iterator[bytes]:
    start_usage = {**_usage(reply), "output_tokens": 1}
    yield _event({"type": "message_start",
                  "message": _message(reply, request, [], start_usage, None)})
    yield _event({"type": "ping"})
    index = 0
    if _has_text_block(reply):
        yield _event({"type": "content_block_start", "index": index,
                      "content_block": {"type": "text", "text": ""}})
        for piece in stream_pieces(reply.text):
            yield _event({"type": "content_block_delta", "index": index,
                          "delta": {"type": "text_delta", "text": piece}})
        yield _event({"type": "content_block_stop", "index": index})
        index += 1
    for call in reply.tool_calls:
        yield _event({"type": "content_block_start", "index": index,
                      "content_block": {**_tool_block(call), "input": {}}})
        arguments = json.dumps(call.arguments, separators=(",", ":"))
        for at in range(0, len(arguments), JSON_PIECE_CHARS):
            yield _event({"type": "content_block_delta", "index": index,
                          "delta": {"type": "input_json_delta",
                                    "partial_json": arguments[at:at + JSON_PIECE_CHARS]}})
        yield _event({"type": "content_block_stop", "index": index})
        index += 1
    yield _event({"type": "message_delta",
                  "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                  "usage": _usage(reply)})
    yield _event({"type": "message_stop"})


def error_body(error: GatewayError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": _ERROR_TYPES.get(error.kind, "api_error"),
                                                       "message": error.message}}
    if error.request_id is not None:  # as Anthropic sends it (its ErrorResponse requires it)
        body["request_id"] = error.request_id
    return body


def models_body(models: Sequence[str]) -> dict[str, Any]:
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models]
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def count_tokens_body(tokens: int, request: ChatRequest) -> dict[str, Any]:
    return {"input_tokens": tokens}


# API versions and beta names are dated (``2023-06-01``; ``claude-code-20250219``,
# ``effort-2025-11-24``). The mock cannot know which ones the upstream offers today (SDKs
# send newer versions than the docs list), so it refuses only values that cannot be one,
# with the API's wording: Claude Code's recovery (retry without the beta) matches on it,
# which is why a gateway must forward these headers, and the error, unchanged.
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
_BETA_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*-(?:\d{8}|\d{4}-\d{2}-\d{2})")


def check_headers(headers: Mapping[str, str]) -> None:
    version = headers.get("anthropic-version")
    if version is not None and not _VERSION.fullmatch(version.strip()):
        raise _invalid(f"anthropic-version: `{version}` is not a valid version (a date, e.g. 2023-06-01)")
    betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
    unexpected = [b for b in betas if not _BETA_NAME.fullmatch(b)]
    if unexpected:
        values = ", ".join(f"`{b}`" for b in unexpected)
        raise _invalid(f"Unexpected value(s) {values} for the `anthropic-beta` header. Please consult "
                       f"our documentation at docs.anthropic.com or try again without the header.")


SURFACE = Surface(
    name=NAME,
    prefix=PREFIX,
    endpoints=(
        Endpoint("POST", "/v1/messages", "generate"),
        Endpoint("POST", "/v1/messages/count_tokens", "count_tokens"),
        Endpoint("GET", "/v1/models", "models"),
        Endpoint("GET", "/", "probe"),
    ),
    parse_request=parse_request,
    render_json=render_json,
    render_stream=render_stream,
    error_body=error_body,
    models_body=models_body,
    count_tokens_body=count_tokens_body,
    check_headers=check_headers,
)
