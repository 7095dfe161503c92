"""Each surface's fields as upstream-mode checks send and read them.

A check is written once for all four surfaces; this module knows, per surface, where the
request goes and where the answer keeps its usage, its text and its error message. Paths
are relative to the surface's base URL at the gateway (``target.surface_url``), so the same
check runs on the embedded mock, on ``serve`` and through a real gateway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from gateway_conformance.remote import Answer

# A stream's terminal errors: what a client sees when its gateway reports a broken upstream in band.
_STREAM_ERROR = re.compile(r'"type"\s*:\s*"(error|response\.failed)"|^\s*\{\s*"error"\s*:')


def request(surface: str, model: str, prompt: str, *, stream: bool, max_tokens: int = 512,
            ) -> tuple[str, dict[str, Any]]:
    """(path under the surface's base URL, body) of one user turn, as the agent would send it."""
    turn = [{"role": "user", "content": prompt}]
    if surface == "anthropic":
        return "/v1/messages", {"model": model, "max_tokens": max_tokens, "stream": stream, "messages": turn}
    if surface == "openai":
        return "/responses", {"model": model, "input": prompt, "stream": stream,
                              "max_output_tokens": max_tokens}
    if surface == "cursor":
        body: dict[str, Any] = {"model": model, "stream": stream, "max_tokens": max_tokens, "messages": turn}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return "/chat/completions", body
    if surface == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return (f"/v1beta/models/{model}:{method}",
                {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
                 "generationConfig": {"maxOutputTokens": max_tokens}})
    raise AssertionError(f"no request shape for surface {surface!r}")


def usage(surface: str, body: Any) -> tuple[int | None, int | None]:
    """(input, output) tokens a non-streamed answer reports."""
    if not isinstance(body, dict):
        return None, None
    if surface == "gemini":
        meta = body.get("usageMetadata") or {}
        return meta.get("promptTokenCount"), meta.get("candidatesTokenCount")
    counts = body.get("usage") or {}
    if surface == "cursor":
        return counts.get("prompt_tokens"), counts.get("completion_tokens")
    return counts.get("input_tokens"), counts.get("output_tokens")


def stream_usage(surface: str, datas: Iterable[str]) -> tuple[int | None, int | None]:
    """(input, output) tokens a stream reports, where each protocol puts them: Anthropic's
    ``message_start`` and last ``message_delta``, Responses' ``response.completed``, the last
    Chat chunk with ``usage`` (``stream_options.include_usage``), the last Gemini chunk."""
    found: tuple[int | None, int | None] = (None, None)
    for data in datas:
        try:
            event = json.loads(data)
        except ValueError:
            continue  # [DONE] and the like
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if surface == "anthropic" and kind == "message_start":
            found = ((event.get("message") or {}).get("usage") or {}).get("input_tokens"), found[1]
        elif surface == "anthropic" and kind == "message_delta":
            found = found[0], (event.get("usage") or {}).get("output_tokens")
        elif surface == "openai" and kind == "response.completed":
            found = usage("openai", event.get("response"))
        elif surface in ("cursor", "gemini") and ("usage" in event or "usageMetadata" in event):
            found = usage(surface, event)
    return found


def text(surface: str, body: Any) -> str:
    """The assistant text of a non-streamed answer ('' when there is none)."""
    try:
        if surface == "anthropic":
            return "".join(b.get("text", "") for b in body["content"] if b.get("type") == "text")
        if surface == "openai":
            return "".join(part.get("text", "") for item in body["output"] if item.get("type") == "message"
                           for part in item.get("content", []))
        if surface == "cursor":
            return str(body["choices"][0]["message"].get("content") or "")
        return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"])
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def error_message(body: Any) -> str | None:
    """``error.message`` of any surface's envelope (Anthropic, OpenAI and Google all have it)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None


def stream_data(answer: Answer) -> list[tuple[float, str]]:
    """(milliseconds after sending, data) of each event that carries data, in arrival order."""
    return [(rec.t_ms, rec.event.data) for rec in answer.response.events or [] if rec.event.data is not None]


def in_band_error(datas: Iterable[str]) -> str | None:
    """The first event that reports an error inside the stream, if any."""
    return next((data for data in datas if _STREAM_ERROR.search(data)), None)


def first_bytes(answer: Answer, limit: int = 300) -> str:
    """The start of an answer's body, for failure messages."""
    return repr(answer.response.body_bytes()[:limit])
