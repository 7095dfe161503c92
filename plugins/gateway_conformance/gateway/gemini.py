"""The Gemini API surface (``/gemini``), what Gemini CLI speaks through ``GOOGLE_GEMINI_BASE_URL``.

The model travels in the path (``/v1beta/models/{model}:generateContent``), streaming is
a different method (``:streamGenerateContent?alt=sse``, each event one
``GenerateContentResponse`` on a ``data:`` line, no ``event:`` lines), and function calls are
whole ``functionCall`` parts, never fragments. Gemini CLI retries a stream whose last chunk
lacks ``finishReason``, so the last chunk always carries it together with ``usageMetadata``.
Google's JSON parser accepts both lowerCamelCase and snake_case field names; so does this one.
Both ``v1beta`` (Gemini CLI) and ``v1`` (google-genai's default) are routed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from gateway_conformance.gateway.turns import (
    ChatRequest,
    Endpoint,
    ErrorKind,
    GatewayError,
    Reply,
    StopReason,
    Surface,
    ToolCall,
    stream_pieces,
)
from gateway_conformance.sse import encode_event

NAME = "gemini"
PREFIX = "/gemini"
API_VERSIONS = ("v1beta", "v1")

_STATUS: dict[ErrorKind, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "request_too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "api_error": "INTERNAL",
    "overloaded": "UNAVAILABLE",
}
_FINISH: dict[StopReason, str] = {"end_turn": "STOP", "tool_use": "STOP", "max_tokens": "MAX_TOKENS"}
_ROLES = frozenset({"user", "model", "function", "tool", ""})
_GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _field(obj: dict[str, Any], name: str) -> Any:
    """A field by its lowerCamelCase name, or by the snake_case spelling proto JSON also accepts."""
    return obj[name] if name in obj else obj.get(_snake(name))


def invalid(message: str) -> GatewayError:
    return GatewayError(400, "invalid_request", message)


def parse_request(body: dict[str, Any], path_params: dict[str, str]) -> ChatRequest:
    """A generateContent or countTokens body; ``stream`` is left False: the method decides it."""
    model = path_params.get("model", "").removeprefix("models/")
    if not model:
        raise invalid("* model: a model name is required in the path, as models/{model}")
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    inner = _field(body, "generateContentRequest")  # countTokens may wrap the request
    if inner is not None:
        if not isinstance(inner, dict):
            raise invalid("* CountTokensRequest.generate_content_request: expected an object")
        body = inner
    contents = _field(body, "contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    prompt, results = "", []
    for i, content in enumerate(contents):
        where = f"GenerateContentRequest.contents[{i}]"
        if not isinstance(content, dict):
            raise invalid(f"* {where}: expected a Content object")
        role = content.get("role") or ""
        if not (isinstance(role, str) and role in _ROLES):
            raise invalid(f"* {where}.role: Please use a valid role: user, model.")
        texts = []
        for j, part in enumerate(_parts(content, where)):
            text = _field(part, "text")
            response = _field(part, "functionResponse")
            if isinstance(text, str):
                texts.append(text)
            elif response is not None:
                results.append(_function_response(response, f"{where}.parts[{j}]"))
        if role in ("user", "") and texts:
            prompt = "".join(texts)
    return ChatRequest(surface=NAME, model=model, stream=False, prompt=prompt,
                       tools=_tool_names(_field(body, "tools")), tool_results=tuple(results),
                       max_tokens=_max_output_tokens(_field(body, "generationConfig")), raw=body)


def _parts(content: dict[str, Any], where: str) -> list[dict[str, Any]]:
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise invalid(f"* {where}.parts: contents.parts must not be empty.")
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise invalid(f"* {where}.parts[{j}]: expected a Part object")
    return parts


def _function_response(response: object, where: str) -> str:
    """A tool result as text: the ``response`` object as compact JSON."""
    if not isinstance(response, dict) or not isinstance(response.get("name"), str):
        raise invalid(f"* {where}.function_response.name: Name cannot be empty.")
    return json.dumps(response.get("response", {}), separators=(",", ":"), sort_keys=True)


def _tool_names(tools: object) -> tuple[str, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise invalid("* GenerateContentRequest.tools: expected a list of Tool")
    names: list[str] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"* GenerateContentRequest.tools[{i}]: expected a Tool object")
        declarations = _field(tool, "functionDeclarations")
        if declarations is None:  # a built-in tool such as googleSearch: named by its key
            names.extend(tool)
            continue
        if not isinstance(declarations, list):
            raise invalid(f"* GenerateContentRequest.tools[{i}].function_declarations: expected a list")
        for j, declaration in enumerate(declarations):
            name = declaration.get("name") if isinstance(declaration, dict) else None
            if not isinstance(name, str) or not name:
                raise invalid(f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: "
                              "Name cannot be empty.")
            names.append(name)
    return tuple(names)


def _max_output_tokens(config: object) -> int | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise invalid("* GenerateContentRequest.generation_config: expected an object")
    value = _field(config, "maxOutputTokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid("* GenerateContentRequest.generation_config.max_output_tokens: "
                      "must be a positive integer")
    return value


def _call_part(call: ToolCall) -> dict[str, Any]:
    return {"functionCall": {"id": call.id, "name": call.name, "args": call.arguments}}


def _usage(reply: Reply) -> dict[str, Any]:
    return {"promptTokenCount": reply.input_tokens, "candidatesTokenCount": reply.output_tokens,
            "totalTokenCount": reply.input_tokens + reply.output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}]}


def _chunk(request: ChatRequest, response_id: str, parts: list[dict[str, Any]],
           reply: Reply | None = None) -> dict[str, Any]:
    """One GenerateContentResponse; given the reply, it is the last one (finishReason, usage)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    body: dict[str, Any] = {"candidates": [candidate]}
    if reply is not None:
        candidate["finishReason"] = _FINISH[reply.stop_reason]
        body["usageMetadata"] = _usage(reply)
    body["modelVersion"] = request.model
    body["responseId"] = response_id
    return body


def _response_id() -> str:
    return uuid.uuid4().hex[:22]


def render_json(reply: Reply, request: ChatRequest) -> dict[str, Any]:
    parts = ([{"text": reply.text}] if reply.text else []) + [_call_part(c) for c in reply.tool_calls]
    return _chunk(request, _response_id(), parts or [{"text": ""}], reply)


def render_stream(reply: Reply, request: ChatRequest) -> Iterator[bytes]:
    response_id = _response_id()
    pieces = stream_pieces(reply.text)
    for piece in pieces[:-1]:
        yield _event(_chunk(request, response_id, [{"text": piece}]))
    last = [{"text": piece} for piece in pieces[-1:]] + [_call_part(c) for c in reply.tool_calls]
    yield _event(_chunk(request, response_id, last or [{"text": ""}], reply))


def _event(body: dict[str, Any]) -> bytes:
    return encode_event(json.dumps(body, separators=(",", ":")))


def error_body(error: GatewayError) -> dict[str, Any]:
    """Google's ``google.rpc.Status`` envelope; a rate limit carries ``RetryInfo`` as Gemini's does.

    google-genai ignores the ``Retry-After`` header, and Gemini CLI reads the delay from
    ``RetryInfo.retryDelay`` in ``details``; so the delay goes in both places.
    """
    details = []
    if error.retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{max(error.retry_after, 0):g}s"})
    status = _STATUS.get(error.kind, "INTERNAL")
    body: dict[str, Any] = {"code": error.status, "message": error.message, "status": status}
    if details:
        body["details"] = details
    return {"error": body}


def models_body(models: Sequence[str]) -> dict[str, Any]:
    return {"models": [{"name": f"models/{m}", "baseModelId": m, "version": "001", "displayName": m,
                        "description": f"{m} served through the AI Gateway",
                        "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
                        "supportedGenerationMethods": _GENERATION_METHODS}
                       for m in models]}


def count_tokens_body(n: int, request: ChatRequest) -> dict[str, Any]:
    return {"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}


def _endpoints() -> tuple[Endpoint, ...]:
    endpoints: list[Endpoint] = []
    for version in API_VERSIONS:
        model = f"/{version}/models/{{model}}"
        endpoints += [
            Endpoint("POST", f"{model}:generateContent", "generate", stream=False),
            Endpoint("POST", f"{model}:streamGenerateContent", "generate", stream=True),
            Endpoint("POST", f"{model}:countTokens", "count_tokens"),
            Endpoint("GET", f"/{version}/models", "models"),
        ]
    return tuple(endpoints)


SURFACE = Surface(
    name=NAME,
    prefix=PREFIX,
    endpoints=_endpoints(),
    parse_request=parse_request,
    render_json=render_json,
    render_stream=render_stream,
    error_body=error_body,
    models_body=models_body,
    count_tokens_body=count_tokens_body,
)
