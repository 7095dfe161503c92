"""OpenAI Responses (Codex): routes, requests, the stream grammar and the OpenAI error envelope.

From the Responses API reference (streaming events): a stream opens with ``response.created``,
adds each output item before its deltas and marks it done, and ends with ``response.completed``
(or ``failed`` / ``incomplete``), whose response carries the id, model and usage. Errors are
``{"error": {"message", "type", "param", "code"}}``, as in every OpenAI API (Chat too).
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
    last_usage,
    require_counts,
    typed_payloads,
    usage_counts,
)

_TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}


def request(model: str, prompt: str, *, stream: bool, max_tokens: int = 512) -> Request:
    return "/responses", {"model": model, "input": prompt, "stream": stream, "max_output_tokens": max_tokens}


def check_error(body: dict[str, Any], status: int | None, sink: Sink, check: str, *,
                exact: bool = False) -> None:
    """``error.message`` and ``error.type`` or ``code``; ``exact``: ``type``, ``param`` and
    ``code`` all there."""
    error = error_message(body, sink, check, exact=exact)
    if error is None:
        return
    sink.require(isinstance(error.get("type"), str) or isinstance(error.get("code"), str), check,
                 "error.type/code missing")
    if exact:
        sink.require(isinstance(error.get("type"), str), check, "error.type missing")
        sink.require({"param", "code"} <= set(error), check, "error.param and error.code must be present")


def check_stream(events: Events, sink: Sink) -> None:
    payloads = typed_payloads(events, sink, "responses.event")
    if not sink.require(bool(payloads), "responses.grammar", "empty stream"):
        return
    sink.require(payloads[0]["type"] == "response.created", "responses.grammar",
                 f"stream must open with response.created, first is {payloads[0]['type']}")
    last = payloads[-1]
    sink.require(last["type"] in _TERMINAL, "responses.grammar",
                 f"stream must end with response.completed (or failed/incomplete), last is {last['type']}")
    created_id = get(payloads[0], "response", "id")
    added: set[int] = set()
    done: set[int] = set()
    for n, p in enumerate(payloads):
        kind = p["type"]
        if kind == "response.output_item.added":
            added.add(p.get("output_index"))
            sink.require(isinstance(get(p, "item", "type"), str), "responses.items",
                         f"event {n}: output_item.added without item.type")
        elif kind == "response.output_item.done":
            done.add(p.get("output_index"))
            sink.require(p.get("output_index") in added, "responses.items",
                         f"event {n}: output_item.done for output_index {p.get('output_index')} never added")
        elif kind.endswith(".delta"):
            index = p.get("output_index")
            if sink.require(is_int(index), "responses.delta", f"event {n}: {kind} without output_index"):
                sink.require(index in added, "responses.delta",
                             f"event {n}: {kind} before output_item.added for output_index {index}")
            if kind in ("response.output_text.delta", "response.refusal.delta"):
                sink.require(is_int(p.get("content_index")), "responses.delta",
                             f"event {n}: {kind} without content_index")
                sink.require(isinstance(p.get("delta"), str), "responses.delta",
                             f"event {n}: {kind} delta is not text")
        elif kind == "response.completed":
            resp = p.get("response") or {}
            for key in ("id", "model"):
                sink.require(isinstance(resp.get(key), str), "responses.completed", f"response.{key} missing")
            require_counts(sink, resp.get("usage"), "input_tokens", "output_tokens", "responses.completed",
                           "response.usage input_tokens/output_tokens missing")
            if created_id is not None:
                sink.require(resp.get("id") == created_id, "responses.completed",
                             "response.id differs from response.created's")
    if last["type"] == "response.completed":
        sink.require(added <= done, "responses.items",
                     f"output items {sorted(added - done)} never got output_item.done")


def check_json(body: dict[str, Any], sink: Sink) -> None:
    sink.require(body.get("object") == "response", "responses.json", f"object {body.get('object')!r}")
    for key in ("id", "model"):
        sink.require(isinstance(body.get(key), str), "responses.json", f"{key} missing")
    sink.require(isinstance(body.get("output"), list), "responses.json", "output is not a list")
    require_counts(sink, body.get("usage"), "input_tokens", "output_tokens", "responses.json",
                   "usage input_tokens/output_tokens missing")


def usage(body: Any) -> tuple[int | None, int | None]:
    return usage_counts(get(body, "usage"), "input_tokens", "output_tokens")


def stream_usage(datas: Iterable[str]) -> tuple[int | None, int | None]:
    """The usage of ``response.completed``'s response."""
    return last_usage(datas, lambda e: e.get("response") if e.get("type") == "response.completed" else None,
                      usage)


def text(body: Any) -> str:
    output = get(body, "output")
    if not isinstance(output, list):
        return ""
    return "".join(str(part.get("text", "")) for item in output
                   if isinstance(item, dict) and item.get("type") == "message"
                   for part in item.get("content") or [] if isinstance(part, dict))


SURFACE = Surface(
    name="openai", protocol="OpenAI Responses",
    routes=Routes(generate=("/responses",), models="/models"),
    model_in="body", listing=("data", "id"), listing_prefix="", listing_object="list",
    count_field=None, request=request, count_tokens_request=None,
    check_stream=check_stream, check_json=check_json, check_error=check_error,
    usage=usage, stream_usage=stream_usage, text=text,
    agent_headers={"session-id": "0199a6f1-7c1e-7a12-b3f4-5d6e7f8091a2",  # Codex's session and originator
                   "originator": "codex_cli_rs"})
