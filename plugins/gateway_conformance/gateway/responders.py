"""What a model "says": the responder interface and the two responders the mock ships.

The echo responder is deterministic (the same request always gets the same answer and the
same token counts), so tests can assert exact usage numbers. The scripted responder lets a
test decide the next turns (a text, a tool call, an error) and falls back to another
responder when its queue is empty; the cassette responder of ``traffic/replay.py`` plugs in
the same way, through :class:`Responder`.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, get_args

from gateway_conformance.gateway import admin_input as check
from gateway_conformance.gateway.faults import kind_for_status
from gateway_conformance.gateway.turns import ChatRequest, GatewayError, Reply, StopReason, ToolCall

CHARS_PER_TOKEN = 4


class Responder(Protocol):
    def respond(self, request: ChatRequest) -> Reply: ...


def tokens_for_text(chars: int) -> int:
    """The mock's tokenizer: one token per four characters, rounded up."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def input_tokens(request: ChatRequest) -> int:
    """Input tokens of a request: every string in its body except the model name, at least 1.

    Counting the raw body (not only the prompt) makes a 25-tool Claude Code request cost
    what it weighs, and gives count_tokens and generate the same number for the same body.
    """
    body = {k: v for k, v in request.raw.items() if k != "model"}
    return max(1, tokens_for_text(sum(len(s) for s in _strings(body))))


def output_tokens(reply: Reply) -> int:
    chars = len(reply.text) + sum(len(c.name) + len(_json(c.arguments)) for c in reply.tool_calls)
    return max(1, tokens_for_text(chars))


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def with_usage(reply: Reply, request: ChatRequest) -> Reply:
    """Fill token counts the reply left at zero, so every reply carries consistent usage."""
    return replace(reply,
                   input_tokens=reply.input_tokens or input_tokens(request),
                   output_tokens=reply.output_tokens or output_tokens(reply))


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


# "Count from 1 to N" asks for a long answer, the way a conformance check asks a real model
# for one; the mock then streams it paced like a generating model (COUNT_PACE seconds per
# word, the whole answer spread over at most COUNT_SPREAD seconds), so "the first event
# arrives well before the last" is observable through any gateway.
_COUNT = re.compile(r"\s*count from 1 to (\d{1,5})\b", re.IGNORECASE)
MAX_COUNT = 5000
COUNT_PACE = 0.01
COUNT_SPREAD = 0.6


class EchoResponder:
    """Answers with the prompt (or the tool results sent back), truncated at ``max_tokens``;
    a prompt starting "Count from 1 to N" gets the numbers, paced (see :data:`COUNT_PACE`)."""

    def respond(self, request: ChatRequest) -> Reply:
        pace = 0.0
        count = _COUNT.match(request.prompt) if not request.tool_results else None
        if request.tool_results:
            text = "Tool results received: " + " | ".join(request.tool_results)
        elif count is not None:
            numbers = min(int(count.group(1)), MAX_COUNT)
            text = " ".join(str(n) for n in range(1, numbers + 1))
            pace = min(COUNT_PACE, COUNT_SPREAD / max(numbers, 1))
        else:
            text = f"Echo: {request.prompt}"
        stop = "end_turn"
        if request.max_tokens is not None and tokens_for_text(len(text)) > request.max_tokens:
            text, stop = text[: max(0, request.max_tokens) * CHARS_PER_TOKEN], "max_tokens"
        return with_usage(Reply(text=text, stop_reason=stop, pace=pace), request)


@dataclass(frozen=True)
class ScriptedTurn:
    """One queued answer: a reply or an error, optionally only for one surface or only for
    the request carrying one correlation marker (gateway/markers.py)."""

    reply: Reply | None = None
    error: GatewayError | None = None
    surface: str | None = None
    marker: str | None = None

    def describe(self) -> str:
        """For a leftover's message: ``text 'abc'``, ``error 503 on gemini``, ``tool call f``."""
        if self.error is not None:
            what = f"error {self.error.status}"
        elif self.reply is not None and self.reply.tool_calls:
            what = "tool call " + ", ".join(call.name for call in self.reply.tool_calls)
        else:
            text = self.reply.text if self.reply is not None else ""
            what = f"text {text[:40] + '...' if len(text) > 40 else text!r}"
        return what + (f" on {self.surface}" if self.surface else "") + (
            f" for marker {self.marker}" if self.marker else "")

    def matches(self, request: ChatRequest) -> bool:
        return ((self.surface is None or self.surface == request.surface)
                and (self.marker is None or self.marker == request.marker))

    @classmethod
    def from_dict(cls, data: object, surfaces: Collection[str] | None = None) -> ScriptedTurn:
        """The admin route's JSON: ``{"text", "tool_calls": [{"name", "arguments", "id"?}],
        "stop_reason", "input_tokens", "output_tokens", "error": {"status", "message", "retry_after"},
        "surface", "marker"}``. Every value is checked (gateway/admin_input.py): a turn that
        would break the request it answers is refused here, with the field named."""
        data = check.only_fields(data, _TURN_FIELDS, "script")
        surface = check.text("surface", data.get("surface"), choices=surfaces)
        marker = check.text("marker", data.get("marker"))
        if data.get("error") is not None:
            if set(data) & _REPLY_FIELDS:
                raise check.AdminInputError("a scripted turn is a reply or an error, not both: drop "
                                            f"{', '.join(sorted(set(data) & _REPLY_FIELDS))} or error")
            err = check.only_fields(data["error"], {"status", "message", "retry_after"}, "error")
            status = check.status("error.status", err.get("status", 500))
            message = check.text("error.message", err.get("message")) or "Scripted error"
            retry_after = check.seconds("error.retry_after", err.get("retry_after"), optional=True,
                                        high=check.MAX_RETRY_AFTER)
            return cls(error=GatewayError(status, kind_for_status(status), message, retry_after=retry_after),
                       surface=surface, marker=marker)
        raw_calls = data.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise check.AdminInputError(f"tool_calls must be a list of objects, "
                                        f"got {type(raw_calls).__name__}")
        calls = tuple(_tool_call(n, c) for n, c in enumerate(raw_calls))
        stop = check.text("stop_reason", data.get("stop_reason"), choices=STOP_REASONS)
        return cls(reply=Reply(text=check.text("text", data.get("text")) or "", tool_calls=calls,
                               stop_reason=stop or ("tool_use" if calls else "end_turn"),  # type: ignore[arg-type]
                               input_tokens=check.count("input_tokens", data.get("input_tokens")) or 0,
                               output_tokens=check.count("output_tokens", data.get("output_tokens")) or 0),
                   surface=surface, marker=marker)


_REPLY_FIELDS = frozenset({"text", "tool_calls", "stop_reason", "input_tokens", "output_tokens"})
_TURN_FIELDS = _REPLY_FIELDS | {"error", "surface", "marker"}
STOP_REASONS: tuple[str, ...] = get_args(StopReason)


def _tool_call(n: int, data: object) -> ToolCall:
    call = check.only_fields(data, {"name", "arguments", "id"}, f"tool_calls[{n}]")
    name = check.text(f"tool_calls[{n}].name", call.get("name"), optional=False)
    if not name:
        raise check.AdminInputError(f"tool_calls[{n}].name must not be empty")
    arguments = call.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise check.AdminInputError(f"tool_calls[{n}].arguments must be a JSON object, "
                                    f"got {type(arguments).__name__}")
    return ToolCall(id=check.text(f"tool_calls[{n}].id", call.get("id")) or new_call_id(), name=name,
                    arguments=arguments)


class ScriptedResponder:
    """A queue of turns in front of a fallback responder (echo by default)."""

    def __init__(self, fallback: Responder | None = None) -> None:
        self.fallback: Responder = fallback or EchoResponder()
        self._queue: list[ScriptedTurn] = []
        self._lock = threading.Lock()

    def push(self, turn: ScriptedTurn) -> None:
        with self._lock:
            self._queue.append(turn)

    def text(self, text: str, *, surface: str | None = None, **usage: int) -> None:
        self.push(ScriptedTurn(reply=Reply(text=text, **usage), surface=surface))

    def tool_call(self, name: str, arguments: Mapping[str, Any], *, text: str = "",
                  call_id: str | None = None, surface: str | None = None) -> ToolCall:
        call = ToolCall(id=call_id or new_call_id(), name=name, arguments=dict(arguments))
        self.push(ScriptedTurn(reply=Reply(text=text, tool_calls=(call,), stop_reason="tool_use"),
                               surface=surface))
        return call

    def error(self, status: int, message: str | None = None, *, surface: str | None = None) -> None:
        kind = kind_for_status(check.status("status", status))
        self.push(ScriptedTurn(error=GatewayError(status, kind, message or f"Scripted {kind} error"),
                               surface=surface))

    def pending(self) -> int:
        return len(self._queue)

    def queued(self) -> list[ScriptedTurn]:
        with self._lock:
            return list(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def respond(self, request: ChatRequest) -> Reply:
        turn = self._next(request)
        if turn is None:
            return with_usage(self.fallback.respond(request), request)
        if turn.error is not None:
            raise turn.error
        assert turn.reply is not None
        return with_usage(turn.reply, request)

    def _next(self, request: ChatRequest) -> ScriptedTurn | None:
        if not self._queue:
            return None
        with self._lock:
            for i, turn in enumerate(self._queue):
                if turn.matches(request):
                    return self._queue.pop(i)
        return None
