"""The OpenAI Responses API surface (``/openai/v1``), the wire Codex speaks (``wire_api = "responses"``).

Codex is strict about the stream: every payload carries ``type``; ``response.created``
comes first; an output item is announced (``response.output_item.added``) before any delta
refers to it; items and content parts are closed with ``.done`` events; the turn ends with
``response.completed`` holding ``id``, ``model``, ``output`` and ``usage``. Without
``response.output_item.done`` for the text and without the final usage, Codex exits 1.
Events are numbered with ``sequence_number`` and named on an ``event:`` line, as OpenAI does.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from gateway_conformance.gateway import openai_common as oa
from gateway_conformance.gateway.turns import ChatRequest, Endpoint, Reply, Surface, stream_pieces
from gateway_conformance.sse import encode_event

NAME = "openai"
PREFIX = "/openai/v1"

_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
_INPUT_TEXT = frozenset({"input_text", "output_text", "text"})
_TOOL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_TOOL_CHOICES = frozenset({"auto", "none", "required"})


def parse_request(body: dict[str, Any], path_params: dict[str, str]) -> ChatRequest:
    body = oa.require_object(body)
    model = oa.require_model(body)
    if "input" not in body:
        raise oa.invalid("Missing required parameter: 'input'.", "input")
    prompt, tool_results = _read_input(body["input"])
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise oa.invalid("Invalid type for 'instructions': expected a string.", "instructions")
    tools = tuple(_tool_name(i, tool) for i, tool in enumerate(oa.optional_list(body, "tools")))
    choice = body.get("tool_choice")
    named = isinstance(choice, str) and choice in _TOOL_CHOICES
    if choice is not None and not (named or isinstance(choice, dict)):
        raise oa.invalid("Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or an object.",
                         "tool_choice")
    return ChatRequest(surface=NAME, model=model, stream=oa.optional_bool(body, "stream"),
                       prompt=prompt, tools=tools, tool_results=tool_results,
                       max_tokens=oa.optional_positive_int(body, "max_output_tokens"), raw=body)


def _read_input(value: object) -> tuple[str, tuple[str, ...]]:
    """The last user text and the tool outputs of ``input`` (a string or a list of items)."""
    if isinstance(value, str):
        return value, ()
    if not isinstance(value, list):
        raise oa.invalid("Invalid type for 'input': expected a string or an array of input items.",
                         "input")
    prompt, results = "", []
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise oa.invalid(f"Invalid type for '{param}': expected an object.", param)
        kind = item.get("type", "message" if "role" in item else None)
        if not isinstance(kind, str):
            raise oa.invalid(f"Missing required parameter: '{param}.type'.", f"{param}.type")
        if kind == "message":
            role = item.get("role")
            if not (isinstance(role, str) and role in _MESSAGE_ROLES):
                raise oa.invalid(f"Invalid value for '{param}.role': expected one of "
                                 f"{', '.join(sorted(_MESSAGE_ROLES))}.", f"{param}.role")
            text = oa.text_of(item.get("content"), f"{param}.content", _INPUT_TEXT)
            if role == "user":
                prompt = text
        elif kind in _TOOL_OUTPUTS:
            if not isinstance(item.get("call_id"), str):
                raise oa.invalid(f"Missing required parameter: '{param}.call_id'.", f"{param}.call_id")
            if "output" not in item:
                raise oa.invalid(f"Missing required parameter: '{param}.output'.", f"{param}.output")
            results.append(oa.text_of(item["output"], f"{param}.output", _INPUT_TEXT))
    return prompt, tuple(results)


def _tool_name(i: int, tool: object) -> str:
    param = f"tools[{i}]"
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        raise oa.invalid(f"Missing required parameter: '{param}.type'.", f"{param}.type")
    name = tool.get("name")
    if tool["type"] == "function" and not (isinstance(name, str) and name):
        raise oa.invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name")
    return name if isinstance(name, str) and name else tool["type"]


def _output_items(reply: Reply) -> list[dict[str, Any]]:
    """The finished output items: the assistant message (always, unless only tool calls) then calls."""
    items: list[dict[str, Any]] = []
    if reply.text or not reply.tool_calls:
        items.append({"id": oa.new_id("msg_"), "type": "message", "status": "completed",
                      "role": "assistant", "content": [_text_part(reply.text)]})
    items.extend({"id": oa.new_id("fc_"), "type": "function_call", "status": "completed",
                  "call_id": call.id, "name": call.name,
                  "arguments": json.dumps(call.arguments, separators=(",", ":"))}
                 for call in reply.tool_calls)
    return items


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _usage(reply: Reply) -> dict[str, Any]:
    return {"input_tokens": reply.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": reply.input_tokens + reply.output_tokens}


def _response(request: ChatRequest, rid: str, created: int, status: str,
              output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    raw = request.raw
    return {
        "id": rid, "object": "response", "created_at": created, "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": raw.get("instructions"), "max_output_tokens": request.max_tokens,
        "model": request.model, "output": output, "parallel_tool_calls": True,
        "previous_response_id": None, "store": False, "temperature": 1.0,
        "text": {"format": {"type": "text"}}, "tool_choice": raw.get("tool_choice", "auto"),
        "tools": raw.get("tools") or [], "top_p": 1.0, "truncation": "disabled",
        "usage": usage, "metadata": {},
    }


def _final_status(reply: Reply) -> str:
    return "incomplete" if reply.stop_reason == "max_tokens" else "completed"


def render_json(reply: Reply, request: ChatRequest) -> dict[str, Any]:
    return _response(request, oa.new_id("resp_"), int(time.time()), _final_status(reply),
                     _output_items(reply), _usage(reply))


Emit = Callable[..., bytes]


def render_stream(reply: Reply, request: ChatRequest) -> Iterator[bytes]:
    sequence = itertools.count()

    def emit(kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": next(sequence), **fields}
        return encode_event(json.dumps(payload, separators=(",", ":")), event=kind)

    rid, created = oa.new_id("resp_"), int(time.time())
    opening = _response(request, rid, created, "in_progress", [], None)
    yield emit("response.created", response=opening)
    yield emit("response.in_progress", response=opening)
    items = _output_items(reply)
    for index, item in enumerate(items):
        stream_item = _message_events if item["type"] == "message" else _function_call_events
        yield from stream_item(emit, index, item)
    status = _final_status(reply)
    yield emit(f"response.{status}",
               response=_response(request, rid, created, status, items, _usage(reply)))


def _message_events(emit: Emit, index: int, item: dict[str, Any]) -> Iterator[bytes]:
    text = item["content"][0]["text"]
    ids = {"item_id": item["id"], "output_index": index}
    yield emit("response.output_item.added", output_index=index,
               item={**item, "status": "in_progress", "content": []})
    yield emit("response.content_part.added", **ids, content_index=0, part=_text_part(""))
    for piece in stream_pieces(text):
        yield emit("response.output_text.delta", **ids, content_index=0, delta=piece, logprobs=[])
    yield emit("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
    yield emit("response.content_part.done", **ids, content_index=0, part=_text_part(text))
    yield emit("response.output_item.done", output_index=index, item=item)


def _function_call_events(emit: Emit, index: int, item: dict[str, Any]) -> Iterator[bytes]:
    ids = {"item_id": item["id"], "output_index": index}
    yield emit("response.output_item.added", output_index=index,
               item={**item, "status": "in_progress", "arguments": ""})
    for piece in stream_pieces(item["arguments"]):
        yield emit("response.function_call_arguments.delta", **ids, delta=piece)
    yield emit("response.function_call_arguments.done", **ids, arguments=item["arguments"])
    yield emit("response.output_item.done", output_index=index, item=item)


SURFACE = Surface(
    name=NAME,
    prefix=PREFIX,
    endpoints=(
        Endpoint("POST", "/responses", "generate"),
        Endpoint("GET", "/models", "models"),
    ),
    parse_request=parse_request,
    render_json=render_json,
    render_stream=render_stream,
    error_body=oa.error_body,
    models_body=oa.models_body,
)
