"""The OpenAI Responses, Chat Completions and Gemini surfaces as pure translations.

Every rendered body and stream event is validated against the official SDK's own types
(openai's pydantic models, google-genai's ``extra='forbid'`` models), so the mock cannot
agree with itself and be wrong; the stream grammar each client relies on is checked on top.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from google.genai import types as genai_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from starlette.routing import Match, Route

from gateway_conformance.gateway import gemini, openai_chat, openai_common, openai_responses
from gateway_conformance.gateway.turns import ChatRequest, GatewayError, Reply, Surface, ToolCall
from gateway_conformance.sse import SSEEvent, SSEParser

SURFACES = {s.name: s for s in (openai_responses.SURFACE, openai_chat.SURFACE, gemini.SURFACE)}
CALL = ToolCall(id="call_1", name="read_file", arguments={"path": "src/app.py", "lines": [1, 20]})
REPLIES = {
    "text": Reply(text="Hello there, general  Kenobi.\n", input_tokens=11, output_tokens=6),
    "tool": Reply(tool_calls=(CALL,), stop_reason="tool_use", input_tokens=30, output_tokens=9),
    "text+tools": Reply(text="Reading both.", stop_reason="tool_use", input_tokens=5, output_tokens=7,
                        tool_calls=(CALL, ToolCall("call_2", "list_dir", {"path": "."}))),
    "empty": Reply(input_tokens=1, output_tokens=0),
}
RESPONSE_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)


def responses_request(**body: Any) -> ChatRequest:
    return openai_responses.parse_request({"model": "databricks-gpt-5-2", "input": "hi", **body}, {})


def chat_request(**body: Any) -> ChatRequest:
    return openai_chat.parse_request(
        {"model": "cursor-model", "messages": [{"role": "user", "content": "hi"}], **body}, {})


def gemini_request(**body: Any) -> ChatRequest:
    return gemini.parse_request({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **body},
                                {"model": "databricks-gemini-2-5-flash"})


REQUESTS: dict[str, Callable[[], ChatRequest]] = {
    "openai": lambda: responses_request(stream=True),
    "cursor": lambda: chat_request(stream=True, stream_options={"include_usage": True}),
    "gemini": gemini_request,
}


def events_of(stream: Iterator[bytes]) -> list[SSEEvent]:
    """Parse a rendered stream, insisting that each yielded element is exactly one whole event."""
    events = []
    for element in stream:
        assert isinstance(element, bytes)
        parser = SSEParser()
        parsed = parser.feed(element)
        assert len(parsed) == 1, f"one element must be one event, got {element!r}"
        assert parser.close() == b""
        events.extend(parsed)
    return events


def payloads(events: list[SSEEvent]) -> list[dict[str, Any]]:
    return [json.loads(e.data) for e in events if e.data != "[DONE]"]


# --- every surface -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SURFACES)
def test_surface_declares_routes_starlette_can_match(name: str) -> None:
    surface: Surface = SURFACES[name]
    assert surface.prefix.startswith("/") and not surface.prefix.endswith("/")
    kinds = {e.kind for e in surface.endpoints}
    assert {"generate", "models"} <= kinds
    for endpoint in surface.endpoints:
        route = Route(endpoint.path, lambda request: None, methods=[endpoint.method])
        path = endpoint.path.replace("{model}", "databricks-gemini-2-5-flash")
        match, child = route.matches({"type": "http", "path": path, "method": endpoint.method})
        assert match is Match.FULL, endpoint
        assert child.get("path_params", {}) == ({"model": "databricks-gemini-2-5-flash"}
                                                if "{model}" in endpoint.path else {})


def test_gemini_methods_do_not_shadow_each_other() -> None:
    """The colon in ``{model}:method`` is literal: a stream call never lands on generateContent."""
    routes = {e.path.rsplit(":", 1)[-1]: e for e in gemini.SURFACE.endpoints if e.path.startswith("/v1beta/")}
    url = "/v1beta/models/m:streamGenerateContent"
    matching = [name for name, e in routes.items()
                if Route(e.path, lambda r: None, methods=[e.method]).matches(
                    {"type": "http", "path": url, "method": e.method})[0] is Match.FULL]
    assert matching == ["streamGenerateContent"]
    assert routes["streamGenerateContent"].stream is True
    assert routes["generateContent"].stream is False
    assert routes["countTokens"].kind == "count_tokens"


# Where each protocol puts (input, output, total) tokens, in the last stream event and the JSON body.
USAGE_FIELDS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], tuple[str, str, str]]] = {
    "openai": (lambda b: b["response"]["usage"] if "response" in b else b["usage"],
               ("input_tokens", "output_tokens", "total_tokens")),
    "cursor": (lambda b: b["usage"], ("prompt_tokens", "completion_tokens", "total_tokens")),
    "gemini": (lambda b: b["usageMetadata"], ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")),
}


@pytest.mark.parametrize("reply_name", REPLIES)
@pytest.mark.parametrize("name", SURFACES)
def test_stream_usage_equals_reply_tokens(name: str, reply_name: str) -> None:
    reply = REPLIES[reply_name]
    last = payloads(events_of(SURFACES[name].render_stream(reply, REQUESTS[name]())))[-1]
    body = SURFACES[name].render_json(reply, REQUESTS[name]())
    where, keys = USAGE_FIELDS[name]
    for usage in (where(last), where(body)):
        assert tuple(usage[k] for k in keys) == \
            (reply.input_tokens, reply.output_tokens, reply.input_tokens + reply.output_tokens)


@pytest.mark.parametrize("name", SURFACES)
def test_stream_is_lazy(name: str) -> None:
    """A generator, not a pre-built list: the core must be able to flush event by event."""
    stream = SURFACES[name].render_stream(REPLIES["text"], REQUESTS[name]())
    assert isinstance(stream, Iterator)
    first = next(stream)
    assert first.endswith(b"\n\n") and first.count(b"\n\n") == 1


# --- Responses (Codex) -------------------------------------------------------------------------


@pytest.mark.parametrize("reply_name", REPLIES)
def test_responses_stream_grammar(reply_name: str) -> None:
    reply = REPLIES[reply_name]
    events = events_of(openai_responses.render_stream(reply, responses_request(stream=True)))
    data = payloads(events)
    for event, payload in zip(events, data, strict=True):
        assert event.event == payload["type"]  # the `event:` line names the payload's type
        RESPONSE_EVENT.validate_python(payload)  # the SDK's own event types accept it
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert [d["type"] for d in data[:2]] == ["response.created", "response.in_progress"]
    assert data[-1]["type"] == "response.completed"
    assert data[0]["response"]["id"] == data[-1]["response"]["id"]

    open_items: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    arguments: dict[str, str] = {}
    done: list[dict[str, Any]] = []
    for d in data[2:-1]:
        kind = d["type"]
        if kind == "response.output_item.added":
            assert d["item"]["id"] not in open_items
            open_items[d["item"]["id"]] = {**d["item"], "output_index": d["output_index"]}
            continue
        item = open_items[d.get("item_id") or d["item"]["id"]]  # never an event before its item
        assert d["output_index"] == item["output_index"]
        if kind == "response.output_text.delta":
            assert d["content_index"] == 0
            texts[item["id"]] = texts.get(item["id"], "") + d["delta"]
        elif kind == "response.output_text.done":
            assert d["text"] == texts.get(item["id"], "") == reply.text
        elif kind == "response.function_call_arguments.delta":
            arguments[item["id"]] = arguments.get(item["id"], "") + d["delta"]
        elif kind == "response.function_call_arguments.done":
            assert d["arguments"] == arguments[item["id"]]
        elif kind == "response.output_item.done":
            done.append(d["item"])
    final = data[-1]["response"]
    assert final["output"] == done
    assert final["model"] == "databricks-gpt-5-2"
    assert final["status"] == "completed"
    calls = [item for item in done if item["type"] == "function_call"]
    assert [(c["call_id"], c["name"], json.loads(c["arguments"])) for c in calls] == \
        [(c.id, c.name, c.arguments) for c in reply.tool_calls]
    messages = [item for item in done if item["type"] == "message"]
    assert [m["content"][0]["text"] for m in messages] == ([reply.text] if reply.text or not calls else [])


def test_responses_json_is_an_sdk_response() -> None:
    reply = REPLIES["text+tools"]
    response = Response.model_validate(openai_responses.render_json(reply, responses_request()))
    assert response.output_text == reply.text
    assert response.usage is not None and response.usage.total_tokens == 12
    assert [o.type for o in response.output] == ["message", "function_call", "function_call"]


def test_responses_max_tokens_ends_incomplete() -> None:
    reply = Reply(text="cut", stop_reason="max_tokens", input_tokens=1, output_tokens=1)
    data = payloads(events_of(openai_responses.render_stream(reply, responses_request(max_output_tokens=1))))
    assert data[-1]["type"] == "response.incomplete"
    assert data[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert data[-1]["response"]["max_output_tokens"] == 1


def test_responses_parses_a_codex_turn_with_a_tool_result() -> None:
    body = {
        "model": "databricks-gpt-5-2", "instructions": "You are Codex.", "stream": True,
        "max_output_tokens": 512,
        "tools": [{"type": "function", "name": "shell", "parameters": {}}, {"type": "web_search"}],
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt\nb.txt"},
            {"type": "reasoning", "summary": []},
        ],
    }
    request = openai_responses.parse_request(body, {})
    assert (request.surface, request.model, request.stream, request.max_tokens) == \
        ("openai", "databricks-gpt-5-2", True, 512)
    assert request.prompt == "list files"
    assert request.tool_results == ("a.txt\nb.txt",)
    assert request.tools == ("shell", "web_search")
    assert request.raw is body


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "x"}, "model"),
    ({"model": 3, "input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": 5}, "input"),
    ({"model": "m", "input": ["x"]}, "input[0]"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": [{"role": "user", "content": 7}]}, "input[0].content"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
     "input[0].content[0].text"),
    ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ({"model": "m", "input": [{"content": "no role, no type"}]}, "input[0].type"),
    ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"model": "m", "input": "x", "tools": {"type": "function"}}, "tools"),
    ({"model": "m", "input": "x", "stream": "yes"}, "stream"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "m", "input": "x", "max_output_tokens": True}, "max_output_tokens"),
    ({"model": "m", "input": "x", "instructions": ["x"]}, "instructions"),
    ({"model": "m", "input": "x", "tool_choice": ["auto"]}, "tool_choice"),
])
def test_responses_rejects_bad_bodies_naming_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        openai_responses.parse_request(body, {})
    envelope = openai_responses.SURFACE.error_body(caught.value)["error"]
    assert (caught.value.status, envelope["type"], envelope["param"]) == (400, "invalid_request_error", param)
    assert param.split("[")[0] in envelope["message"]


def test_non_object_bodies_are_400_in_every_surface() -> None:
    for name, surface in SURFACES.items():
        with pytest.raises(GatewayError) as caught:
            surface.parse_request([1, 2], {"model": "m"})  # type: ignore[arg-type]
        assert caught.value.status == 400, name


# --- OpenAI error envelope and models (both OpenAI surfaces) -----------------------------------


@pytest.mark.parametrize(("error", "expected"), [
    (GatewayError(400, "invalid_request", "bad", param="model"), ("invalid_request_error", None, "model")),
    (GatewayError(401, "authentication", "who?"), ("authentication_error", "invalid_api_key", None)),
    (GatewayError(403, "permission", "no"), ("permission_error", "permission_denied", None)),
    (GatewayError(404, "not_found", "model: x", code="model_not_found"),
     ("not_found_error", "model_not_found", None)),
    (GatewayError(429, "rate_limit", "slow", retry_after=2),
     ("rate_limit_exceeded", "rate_limit_exceeded", None)),
    (GatewayError(500, "api_error", "boom"), ("server_error", None, None)),
    (GatewayError(503, "overloaded", "busy"), ("server_error", "overloaded", None)),
])
def test_openai_error_envelope(error: GatewayError, expected: tuple[Any, ...]) -> None:
    for surface in (openai_responses.SURFACE, openai_chat.SURFACE):
        body = surface.error_body(error)
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code", "param"}
        assert (body["error"]["type"], body["error"]["code"], body["error"]["param"]) == expected
        assert body["error"]["message"] == error.message


def test_openai_models_listing() -> None:
    body = openai_common.models_body(["a", "b"])
    assert body["object"] == "list"
    assert [(m["id"], m["object"]) for m in body["data"]] == [("a", "model"), ("b", "model")]
    assert openai_chat.SURFACE.models_body is openai_responses.SURFACE.models_body


# --- Chat Completions (Cursor) -----------------------------------------------------------------


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("reply_name", REPLIES)
def test_chat_stream_grammar(reply_name: str, include_usage: bool) -> None:
    reply = REPLIES[reply_name]
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    events = events_of(openai_chat.render_stream(reply, chat_request(stream=True, **options)))
    assert all(e.event is None for e in events)  # OpenAI sends no `event:` lines here
    assert events[-1].data == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(p) for p in payloads(events)]
    assert len({c.id for c in chunks}) == 1
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert usage_chunks == [chunks[-1]] and chunks[-1].choices == []
        assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == \
            (reply.input_tokens, reply.output_tokens)
        chunks = chunks[:-1]
    else:
        assert usage_chunks == []
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks]
    assert finishes[:-1] == [None] * (len(chunks) - 1)
    assert finishes[-1] == ("tool_calls" if reply.tool_calls else "stop")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == reply.text
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for delta in c.choices[0].delta.tool_calls or []:
            if delta.id is not None:  # the announcing fragment
                assert delta.index not in calls
                calls[delta.index] = {"id": delta.id, "name": delta.function.name, "arguments": ""}
            calls[delta.index]["arguments"] += delta.function.arguments or ""
    assert [(v["id"], v["name"], json.loads(v["arguments"])) for _, v in sorted(calls.items())] == \
        [(c.id, c.name, c.arguments) for c in reply.tool_calls]


def test_chat_json_is_an_sdk_completion() -> None:
    reply = REPLIES["tool"]
    completion = ChatCompletion.model_validate(openai_chat.render_json(reply, chat_request()))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert [(t.id, t.function.name, json.loads(t.function.arguments)) for t in choice.message.tool_calls] == \
        [(CALL.id, CALL.name, CALL.arguments)]
    length = openai_chat.render_json(Reply(text="x", stop_reason="max_tokens"), chat_request())
    assert length["choices"][0]["finish_reason"] == "length"


def test_chat_parses_a_cursor_turn_with_a_tool_result() -> None:
    request = openai_chat.parse_request({
        "model": "cursor-model", "stream": True, "max_completion_tokens": 64,
        "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {}}}],
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "open "}, {"type": "text", "text": "it"},
                                         {"type": "image_url", "image_url": {"url": "data:,"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "print('hi')"},
        ],
    }, {})
    assert (request.surface, request.prompt, request.tools, request.max_tokens) == \
        ("cursor", "open it", ("read_file",), 64)
    assert request.tool_results == ("print('hi')",)


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": ["x"]}, "messages[0]"),
    ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"model": "m", "messages": [{"role": "user", "content": {"text": "x"}}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}, "stream_options"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True,
      "stream_options": {"include_usage": "yes"}}, "include_usage"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
     "tools[0].function.name"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, "max_tokens"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 5,
      "max_tokens": "many"}, "max_tokens"),
])
def test_chat_rejects_bad_bodies_naming_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        openai_chat.parse_request(body, {})
    envelope = openai_chat.SURFACE.error_body(caught.value)["error"]
    assert (caught.value.status, envelope["param"]) == (400, param)


# --- Gemini (Gemini CLI) -----------------------------------------------------------------------


@pytest.mark.parametrize("reply_name", REPLIES)
def test_gemini_stream_grammar(reply_name: str) -> None:
    reply = REPLIES[reply_name]
    events = events_of(gemini.render_stream(reply, gemini_request()))
    assert all(e.event is None for e in events)  # google-genai reads only `data:` lines
    chunks = [genai_types.GenerateContentResponse.model_validate(p) for p in payloads(events)]
    finishes = [c.candidates[0].finish_reason for c in chunks]
    assert finishes[:-1] == [None] * (len(chunks) - 1)
    assert finishes[-1] == genai_types.FinishReason.STOP  # Gemini CLI retries a stream without it
    assert [c.usage_metadata is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    text = "".join(p.text or "" for c in chunks for p in c.candidates[0].content.parts)
    assert text == reply.text
    calls = [p.function_call for c in chunks for p in c.candidates[0].content.parts if p.function_call]
    assert [(f.id, f.name, f.args) for f in calls] == [(c.id, c.name, c.arguments) for c in reply.tool_calls]
    assert {c.model_version for c in chunks} == {"databricks-gemini-2-5-flash"}
    assert len({c.response_id for c in chunks}) == 1


def test_gemini_json_and_max_tokens() -> None:
    body = gemini.render_json(REPLIES["text+tools"], gemini_request())
    response = genai_types.GenerateContentResponse.model_validate(body)
    assert response.text == "Reading both."
    assert [f.name for f in response.function_calls] == ["read_file", "list_dir"]
    cut = gemini.render_json(Reply(text="x", stop_reason="max_tokens"), gemini_request())
    assert cut["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_gemini_parses_camel_and_snake_case_with_function_responses() -> None:
    request = gemini.parse_request({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {"max_output_tokens": 99},
        "tools": [{"functionDeclarations": [{"name": "read_file"}]}, {"googleSearch": {}}],
        "contents": [
            {"role": "user", "parts": [{"text": "open "}, {"text": "it"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {"p": 1}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "read_file",
                                                              "response": {"output": "hi"}}}]},
        ],
    }, {"model": "databricks-gemini-2-5-flash"})
    assert (request.surface, request.model, request.stream) == \
        ("gemini", "databricks-gemini-2-5-flash", False)
    assert request.prompt == "open it"
    assert request.tools == ("read_file", "googleSearch")
    assert request.tool_results == ('{"output":"hi"}',)
    assert request.max_tokens == 99


def test_gemini_count_tokens_accepts_the_wrapped_request() -> None:
    wrapped = gemini.parse_request(
        {"generateContentRequest": {"model": "models/m", "contents": [{"parts": [{"text": "count me"}]}]}},
        {"model": "m"})
    assert wrapped.prompt == "count me"
    assert gemini.count_tokens_body(7, wrapped)["totalTokens"] == 7


@pytest.mark.parametrize(("body", "model", "fragment"), [
    ({"contents": [{"parts": [{"text": "x"}]}]}, "", "model"),
    ({}, "m", "contents"),
    ({"contents": []}, "m", "contents"),
    ({"contents": ["x"]}, "m", "contents[0]"),
    ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "m", "role"),
    ({"contents": [{"role": "user", "parts": []}]}, "m", "parts"),
    ({"contents": [{"role": "user", "parts": ["x"]}]}, "m", "parts[0]"),
    ({"contents": [{"role": "user", "parts": [{"functionResponse": {"response": {}}}]}]}, "m", "name"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": {"x": 1}}, "m", "tools"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{}]}]}, "m", "name"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 0}}, "m",
     "max_output_tokens"),
    ({"generateContentRequest": "x"}, "m", "generate_content_request"),
])
def test_gemini_rejects_bad_bodies(body: dict[str, Any], model: str, fragment: str) -> None:
    with pytest.raises(GatewayError) as caught:
        gemini.parse_request(body, {"model": model})
    envelope = gemini.error_body(caught.value)["error"]
    assert (envelope["code"], envelope["status"]) == (400, "INVALID_ARGUMENT")
    assert fragment in envelope["message"]


@pytest.mark.parametrize(("kind", "status", "expected"), [
    ("invalid_request", 400, "INVALID_ARGUMENT"),
    ("authentication", 401, "UNAUTHENTICATED"),
    ("permission", 403, "PERMISSION_DENIED"),
    ("not_found", 404, "NOT_FOUND"),
    ("rate_limit", 429, "RESOURCE_EXHAUSTED"),
    ("api_error", 500, "INTERNAL"),
    ("overloaded", 503, "UNAVAILABLE"),
])
def test_gemini_error_envelope(kind: Any, status: int, expected: str) -> None:
    body = gemini.error_body(GatewayError(status, kind, "why"))
    assert body == {"error": {"code": status, "message": "why", "status": expected}}


def test_gemini_rate_limit_carries_retry_info() -> None:
    body = gemini.error_body(GatewayError(429, "rate_limit", "slow down", retry_after=3))
    assert body["error"]["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                         "retryDelay": "3s"}]


def test_gemini_models_listing() -> None:
    """The wire names (``supportedGenerationMethods``) differ from the SDK's, so no model_validate."""
    body = gemini.models_body(["databricks-gemini-2-5-flash"])
    assert [m["name"] for m in body["models"]] == ["models/databricks-gemini-2-5-flash"]
    assert "generateContent" in body["models"][0]["supportedGenerationMethods"]


# --- arbitrary bodies --------------------------------------------------------------------------

# A rich valid body per surface; the strategy below keeps its shape but swaps any node (the
# body itself included) for arbitrary JSON or drops keys, so malformed input reaches every
# branch of the parser instead of failing at the first missing field.
TEMPLATES: dict[str, Any] = {
    "openai": {"model": "m", "stream": True, "max_output_tokens": 5, "instructions": "be brief",
               "tool_choice": "auto", "tools": [{"type": "function", "name": "f", "parameters": {}}],
               "input": [{"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": "hi"}]},
                         {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                         {"type": "function_call_output", "call_id": "c", "output": "ok"}]},
    "cursor": {"model": "m", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 5,
               "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                            {"role": "assistant", "content": None, "tool_calls": []},
                            {"role": "tool", "tool_call_id": "c", "content": "ok"}]},
    "gemini": {"generationConfig": {"maxOutputTokens": 5},
               "tools": [{"functionDeclarations": [{"name": "f"}]}],
               "contents": [{"role": "user", "parts": [{"text": "hi"}]},
                            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                            {"role": "user", "parts": [{"functionResponse": {"name": "f",
                                                                             "response": {"x": 1}}}]}]},
}
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=5)
JSON_VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2),
                        st.dictionaries(st.text(max_size=4), SCALARS, max_size=2))
DROP = object()  # a mutation that removes the node altogether
Path_ = tuple[str | int, ...]


def node_paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(value, dict):
        children: Any = value.items()
    else:
        children = enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from node_paths(child, (*prefix, key))


def mutate(body: Any, path: Path_, replacement: Any) -> Any:
    """``body`` with the node at ``path`` replaced (or removed); a path gone already is ignored."""
    if not path:
        return {} if replacement is DROP else replacement
    parent = body
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return body
    last = path[-1]
    fits = (isinstance(parent, dict) and last in parent) or (
        isinstance(parent, list) and isinstance(last, int) and last < len(parent))
    if fits and replacement is DROP:
        parent.pop(last)
    elif fits:
        parent[last] = replacement
    return body


def mutants(template: Any) -> st.SearchStrategy[Any]:
    """The template with one to three of its nodes swapped for arbitrary JSON or removed:
    every branch of a parser is reached with the rest of the body still well-formed."""
    mutation = st.tuples(st.sampled_from(list(node_paths(template))), JSON_VALUES | st.just(DROP))

    def build(mutations: list[tuple[Path_, Any]]) -> Any:
        body = json.loads(json.dumps(template))
        for path, replacement in mutations:
            body = mutate(body, path, replacement)
        return body
    return st.lists(mutation, min_size=1, max_size=3).map(build)


@pytest.mark.parametrize("name", sorted(SURFACES))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), model=st.sampled_from(["m", "m", "m", ""]))
def test_any_body_is_a_request_or_a_400(name: str, data: st.DataObject, model: str) -> None:
    """Whatever JSON arrives, the parser answers with a request or a 400, never a crash, and
    whatever it accepts renders (JSON and stream) into serialisable output."""
    surface = SURFACES[name]
    body = data.draw(mutants(TEMPLATES[name]))
    try:
        request = surface.parse_request(body, {"model": model})
    except GatewayError as err:
        assert (err.status, err.kind) == (400, "invalid_request")
        json.dumps(surface.error_body(err))
        return
    for reply in REPLIES.values():
        json.dumps(surface.render_json(reply, request))
        assert events_of(surface.render_stream(reply, request))
