"""Gemini generateContent (Gemini CLI): routes, requests, the chunk grammar and Google's envelope.

From the Gemini API reference: the model sits in the path (``/v1beta/models/<model>:...``,
the version Gemini CLI calls; a ``/v1/`` path is not recognised as generation or counting);
a stream (``?alt=sse``) is a series of ``GenerateContentResponse`` chunks with no ``[DONE]``,
whose parts carry text or a named ``functionCall`` and whose last chunk has
``candidates[0].finishReason`` and ``usageMetadata`` (without them Gemini CLI retries, then
fails). Errors are Google's ``{"error": {"code", "message", "status"}}``.
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
    last_usage,
    parse,
    require_counts,
    usage_counts,
)

_PART_KINDS = {"text", "functionCall", "thought", "thoughtSignature", "inlineData"}
# The canonical status name of each HTTP status (Google's API error model, AIP-193); 400 is
# left out: it is INVALID_ARGUMENT or FAILED_PRECONDITION depending on the cause.
ERROR_STATUSES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _contents(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"text": text}]}]


def request(model: str, prompt: str, *, stream: bool, max_tokens: int = 512) -> Request:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return (f"/v1beta/models/{model}:{method}",
            {"contents": _contents(prompt), "generationConfig": {"maxOutputTokens": max_tokens}})


def count_tokens_request(model: str, text: str) -> Request:
    return f"/v1beta/models/{model}:countTokens", {"contents": _contents(text)}


def check_error(body: dict[str, Any], status: int | None, sink: Sink, check: str, *,
                exact: bool = False) -> None:
    """``error.status`` (an upper-case name when ``exact``) and ``error.code`` equal to the HTTP status."""
    error = error_message(body, sink, check, exact=exact)
    if error is None:
        return
    name = error.get("status")
    sink.require(isinstance(name, str) and (name.isupper() or not exact), check, "error.status missing")
    if status is not None:
        sink.require(error.get("code") == status, check, f"error.code {error.get('code')!r} != {status}")
    if exact and status in ERROR_STATUSES:
        sink.require(name == ERROR_STATUSES[status], check,
                     f"error.status {name!r} for {status}, required {ERROR_STATUSES[status]!r}")


def _chunk(n: int, chunk: Any, sink: Sink) -> bool:
    if not sink.require(isinstance(chunk, dict), "gemini.chunk", f"chunk {n}: data is not a JSON object"):
        return False
    if "error" in chunk:
        check_error(chunk, None, sink, "gemini.stream_error")
        return False
    for c, cand in enumerate(chunk.get("candidates") or []):
        for part in get(cand, "content", "parts") or []:
            sink.require(isinstance(part, dict) and bool(_PART_KINDS & set(part)),
                         "gemini.parts", f"chunk {n} candidate {c}: part without text or functionCall")
            call = part.get("functionCall") if isinstance(part, dict) else None
            if call is not None:
                sink.require(isinstance(call.get("name"), str), "gemini.parts",
                             f"chunk {n}: functionCall without name")
    return True


def _last(chunk: dict[str, Any], sink: Sink) -> None:
    sink.require(isinstance(get(chunk, "candidates", 0, "finishReason"), str), "gemini.finish",
                 "last chunk has no candidates[0].finishReason (Gemini CLI retries then fails)")
    require_counts(sink, chunk.get("usageMetadata"), "promptTokenCount", "totalTokenCount", "gemini.usage",
                   "last chunk has no usageMetadata promptTokenCount/totalTokenCount")


def check_stream(events: Events, sink: Sink) -> None:
    if not sink.require(bool(events), "gemini.grammar", "empty stream"):
        return
    chunks = [parse(data) for _, data in events]
    ok = [_chunk(n, chunk, sink) for n, chunk in enumerate(chunks)]
    sink.require(events[-1][1] != "[DONE]", "gemini.grammar", "Gemini streams do not end with [DONE]")
    if ok[-1]:
        _last(chunks[-1], sink)


def check_json(body: dict[str, Any], sink: Sink) -> None:
    if _chunk(0, body, sink):
        _last(body, sink)


def usage(body: Any) -> tuple[int | None, int | None]:
    return usage_counts(get(body, "usageMetadata"), "promptTokenCount", "candidatesTokenCount")


def stream_usage(datas: Iterable[str]) -> tuple[int | None, int | None]:
    """The last chunk with ``usageMetadata``."""
    return last_usage(datas, lambda e: e if "usageMetadata" in e else None, usage)


def text(body: Any) -> str:
    parts = get(body, "candidates", 0, "content", "parts")
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


SURFACE = Surface(
    name="gemini", protocol="Gemini generateContent",
    routes=Routes(generate=("/v1beta/models/{model}:streamGenerateContent",
                            "/v1beta/models/{model}:generateContent"),
                  models="/v1beta/models", count_tokens="/v1beta/models/{model}:countTokens"),
    model_in="path", listing=("models", "name"), listing_prefix="models/", listing_object=None,
    count_field="totalTokens", request=request, count_tokens_request=count_tokens_request,
    check_stream=check_stream, check_json=check_json, check_error=check_error,
    usage=usage, stream_usage=stream_usage, text=text,
    agent_headers={"x-goog-api-client": "gl-node/22.17.0"})  # Gemini CLI's client header
