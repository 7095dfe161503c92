"""A response as the client ends up holding it, and the token counts it reported.

For a stream, the inference table keeps the final response a client assembles from the
events (what the Anthropic SDK's ``get_final_message()``, the OpenAI SDK's
``get_final_response()`` / ``get_final_completion()`` return; for Gemini, the chunks
folded into one ``GenerateContentResponse``), not the raw events: that is what a reader of
the table wants to see, and the event count says how it travelled. The folding rules follow
each SDK's own accumulator, so the check "the row's response equals what the SDK assembled"
compares like with like.

Token counts are read from the response the client got (JSON body or assembled stream), in
each protocol's own fields, so the usage row says what the caller was told, whoever
produced the bytes (a responder, a recorded cassette, an upstream).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway_conformance.sse import SSEParser

Json = dict[str, Any]


@dataclass(frozen=True)
class Tokens:
    """What a response reported; a detail is None where the protocol does not report it."""

    input: int = 0
    output: int = 0
    total: int = 0
    cache_read: int | None = None
    cache_creation: int | None = None
    reasoning: int | None = None


def _data(raw: bytes) -> list[Json]:
    """The JSON payloads of a stream's events, in order (``[DONE]``, comments, junk skipped)."""
    parser = SSEParser()
    events = parser.feed(raw)
    payloads = []
    for event in events:
        if event.data is None:
            continue
        try:
            payload = json.loads(event.data)
        except ValueError:
            continue
        if isinstance(payload, dict):
            payloads.append(payload)
    return payloads


def event_count(raw: bytes) -> int:
    """How many complete events the stream carried (pings and ``[DONE]`` included)."""
    return len(SSEParser().feed(raw))


# ----- Anthropic Messages -------------------------------------------------------------------

def _anthropic(events: Iterable[Json]) -> Json | None:
    message: Json | None = None
    partial: dict[int, str] = {}
    for event in events:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = copy.deepcopy(event["message"])
            message.setdefault("content", [])
        elif message is None:
            continue
        elif kind == "content_block_start":
            message["content"].append(copy.deepcopy(event.get("content_block") or {}))
        elif kind == "content_block_delta":
            index, delta = event.get("index", 0), event.get("delta") or {}
            if not 0 <= index < len(message["content"]):
                continue
            block = message["content"][index]
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                partial[index] = partial.get(index, "") + delta.get("partial_json", "")
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif delta.get("type") == "signature_delta":
                block["signature"] = delta.get("signature")
        elif kind == "content_block_stop":
            index = event.get("index", 0)
            if index in partial and 0 <= index < len(message["content"]):
                with contextlib.suppress(ValueError):  # a cut stream: the input stays as started
                    message["content"][index]["input"] = json.loads(partial.pop(index) or "{}")
        elif kind == "message_delta":
            message.update({k: v for k, v in (event.get("delta") or {}).items()})
            usage = message.setdefault("usage", {})
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    return message


def _anthropic_tokens(body: Json) -> Tokens:
    usage = body.get("usage") or {}
    read, created = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    return _tokens(usage.get("input_tokens"), usage.get("output_tokens"), None, read, created, None)


# ----- OpenAI Responses ---------------------------------------------------------------------

def _responses(events: Iterable[Json]) -> Json | None:
    final = None
    for event in events:
        if isinstance(event.get("response"), dict):
            final = event["response"]  # created, in_progress, then completed/incomplete/failed
    return final


def _responses_tokens(body: Json) -> Tokens:
    usage = body.get("usage") or {}
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens")
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    return _tokens(usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens"),
                   cached, None, reasoning)


# ----- OpenAI Chat Completions --------------------------------------------------------------

def _chat(events: Iterable[Json]) -> Json | None:
    completion: Json | None = None
    choices: dict[int, Json] = {}
    for chunk in events:
        if completion is None:
            completion = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
            completion["object"] = "chat.completion"
        if chunk.get("usage") is not None:
            completion["usage"] = chunk["usage"]
        for part in chunk.get("choices") or []:
            choice = choices.setdefault(part.get("index", 0), {
                "index": part.get("index", 0), "message": {"role": "assistant", "content": None},
                "logprobs": None, "finish_reason": None})
            _chat_delta(choice["message"], part.get("delta") or {})
            if part.get("finish_reason") is not None:
                choice["finish_reason"] = part["finish_reason"]
    if completion is None:
        return None
    completion["choices"] = [choices[i] for i in sorted(choices)]
    completion.setdefault("usage", None)
    return completion


def _chat_delta(message: Json, delta: Json) -> None:
    for key in ("role", "refusal"):
        if delta.get(key) is not None:
            message[key] = delta[key]
    if delta.get("content") is not None:
        message["content"] = (message.get("content") or "") + delta["content"]
    for call in delta.get("tool_calls") or []:
        calls = message.setdefault("tool_calls", [])
        index = call.get("index", len(calls))
        while len(calls) <= index:
            calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        target, function = calls[index], call.get("function") or {}
        if call.get("id"):
            target["id"] = call["id"]
        if function.get("name"):
            target["function"]["name"] += function["name"]
        target["function"]["arguments"] += function.get("arguments") or ""


def _chat_tokens(body: Json) -> Tokens:
    usage = body.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return _tokens(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"),
                   cached, None, reasoning)


# ----- Gemini -------------------------------------------------------------------------------

def _gemini(events: Iterable[Json]) -> Json | None:
    folded: Json | None = None
    for chunk in events:
        if folded is None:
            folded = {"candidates": []}
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if key in chunk:
                folded[key] = chunk[key]
        for candidate in chunk.get("candidates") or []:
            index = candidate.get("index", 0)
            while len(folded["candidates"]) <= index:
                folded["candidates"].append({"content": {"role": "model", "parts": []},
                                             "index": len(folded["candidates"])})
            target = folded["candidates"][index]
            parts = target["content"]["parts"]
            for part in (candidate.get("content") or {}).get("parts") or []:
                if set(part) == {"text"} and parts and set(parts[-1]) == {"text"}:
                    parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
            target.update({k: v for k, v in candidate.items() if k not in ("content", "index")})
    return folded


def _gemini_tokens(body: Json) -> Tokens:
    usage = body.get("usageMetadata") or {}
    return _tokens(usage.get("promptTokenCount"), usage.get("candidatesTokenCount"),
                   usage.get("totalTokenCount"), usage.get("cachedContentTokenCount"), None,
                   usage.get("thoughtsTokenCount"))


# ----- dispatch -----------------------------------------------------------------------------

def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _tokens(inp: Any, out: Any, total: Any, read: Any, created: Any, reasoning: Any) -> Tokens:
    i, o = _int(inp) or 0, _int(out) or 0
    return Tokens(i, o, _int(total) if _int(total) is not None else i + o, _int(read), _int(created),
                  _int(reasoning))


@dataclass(frozen=True)
class _Protocol:
    assemble: Callable[[Iterable[Json]], Json | None]
    tokens: Callable[[Json], Tokens]


#: Surface name -> how its streams fold and where its usage sits.
PROTOCOLS: dict[str, _Protocol] = {
    "anthropic": _Protocol(_anthropic, _anthropic_tokens),
    "openai": _Protocol(_responses, _responses_tokens),
    "cursor": _Protocol(_chat, _chat_tokens),
    "gemini": _Protocol(_gemini, _gemini_tokens),
}


def final_response(surface: str, raw: bytes, streamed: bool) -> Any:
    """The response the client holds: the JSON body, or the stream folded; None if unreadable."""
    if streamed:
        protocol = PROTOCOLS.get(surface)
        return protocol.assemble(_data(raw)) if protocol else None
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


def reported_tokens(surface: str, response: Any, status: int) -> Tokens:
    """The tokens a successful response reported; a refusal or error reports none."""
    protocol = PROTOCOLS.get(surface)
    if protocol is None or not 200 <= status < 300 or not isinstance(response, dict):
        return Tokens()
    return protocol.tokens(response)
