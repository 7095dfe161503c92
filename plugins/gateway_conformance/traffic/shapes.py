"""Per-surface shape checks on raw HTTP answers: what a gateway must get right whatever the
model says.

These checks know the protocols from their published specs and from what the agents need
(SPEC section 4), not from the mock's code: they judge the mock and real gateways alike.
Every check returns a list of :class:`Finding` instead of raising, so a run against a
gateway reports all that is wrong with it at once. Entry points:

- :func:`check_raw` - one raw answer (status, headers, body bytes) to a surface path;
- :func:`check_response` - the same on an already parsed :class:`RecordedResponse`;
- :func:`compare` - a replayed answer against its recording: status, content type, and the
  grammar of the new answer (differences in what the model said are informational).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway_conformance.roster import SURFACES as SURFACES  # re-exported: shapes.SURFACES
from gateway_conformance.traffic.cassette import RecordedRequest, RecordedResponse

Severity = Literal["error", "warning", "info"]
EndpointKind = Literal["generate", "count_tokens", "models", "probe", "other"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    message: str
    cassette: str = ""
    index: int | None = None

    def __str__(self) -> str:
        where = f"{self.cassette}#{self.index} " if self.cassette or self.index is not None else ""
        return f"[{self.severity}] {where}{self.check}: {self.message}"


class _Sink:
    """Collects findings for one answer; ``fail`` never raises."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def fail(self, check: str, message: str, severity: Severity = "error") -> None:
        self.findings.append(Finding(severity, check, message))

    def require(self, ok: bool, check: str, message: str) -> bool:
        if not ok:
            self.fail(check, message)
        return ok


# ---- which endpoint ----------------------------------------------------------------------------

def endpoint_kind(surface: str, method: str, path: str) -> EndpointKind:
    """What a request path asks for; the surface prefix may be anything before it."""
    path = path.split("?")[0].rstrip("/")
    if method.upper() == "HEAD":
        return "probe"
    if surface == "anthropic":
        if path.endswith("/v1/messages/count_tokens"):
            return "count_tokens"
        if path.endswith("/v1/messages"):
            return "generate"
    elif surface == "openai":
        if path.endswith("/responses"):
            return "generate"
    elif surface == "cursor":
        if path.endswith("/chat/completions"):
            return "generate"
    elif surface == "gemini":
        if path.endswith(":countTokens"):
            return "count_tokens"
        if path.endswith((":generateContent", ":streamGenerateContent")):
            return "generate"
    if path.endswith("/models") and method.upper() == "GET":
        return "models"
    return "other"


# ---- entry points ------------------------------------------------------------------------------

def check_raw(surface: str, method: str, path: str, status: int, headers: dict[str, str],
              body: bytes) -> list[Finding]:
    """Shape findings for one raw answer, as a real gateway sent it."""
    return check_response(surface, method, path,
                          RecordedResponse.from_body(status, {k.lower(): v for k, v in headers.items()},
                                                     body))


def check_response(surface: str, method: str, path: str, resp: RecordedResponse) -> list[Finding]:
    if surface not in SURFACES:
        return [Finding("error", "surface", f"unknown surface {surface!r} (known: {', '.join(SURFACES)})")]
    sink = _Sink()
    kind = endpoint_kind(surface, method, path)
    if kind == "probe" or resp.status in (204, 304):
        return sink.findings
    if resp.status >= 400:
        _check_error(surface, resp, sink)
        return sink.findings
    if resp.is_stream:
        if not sink.require(kind == "generate", "stream", f"{path} answered with an event stream"):
            return sink.findings
        # Comment-only events (keep-alives) carry no data and belong to no grammar.
        events = [(e.event.event, e.event.data) for e in resp.events or [] if e.event.data is not None]
        if resp.tail.strip():
            sink.fail("stream.cut", f"stream ended inside an event: {resp.tail[:80]!r}")
        _STREAMS[surface](events, sink)
        return sink.findings
    media = resp.content_type.split(";")[0].strip().lower()
    if not sink.require(media == "application/json", "content-type",
                        f"expected application/json, got {resp.content_type or 'none'!r}"):
        return sink.findings
    if not sink.require(isinstance(resp.body, dict), "json", "body is not a JSON object"):
        return sink.findings
    if kind == "generate":
        _JSON_BODIES[surface](resp.body, sink)
    elif kind == "models":
        _check_models(surface, resp.body, sink)
    elif kind == "count_tokens":
        field_name = "input_tokens" if surface == "anthropic" else "totalTokens"
        sink.require(_is_int(resp.body.get(field_name)), "count_tokens",
                     f"{field_name} missing or not an integer")
    return sink.findings


def compare(surface: str, request: RecordedRequest, recorded: RecordedResponse, actual: RecordedResponse,
            *, injected_fault: bool = False, cassette: str = "", index: int | None = None) -> list[Finding]:
    """A replayed answer against its recording, by shape."""
    sink = _Sink()
    if actual.status != recorded.status:
        if injected_fault and actual.status < 400:
            sink.fail("status", f"recorded {recorded.status} was an injected fault; got {actual.status}",
                      "info")
        else:
            sink.fail("status", f"got {actual.status}, recorded {recorded.status}")
    elif actual.status < 400 and request.method != "HEAD":  # a HEAD has no body to type
        rec_media = recorded.content_type.split(";")[0].strip().lower()
        act_media = actual.content_type.split(";")[0].strip().lower()
        sink.require(rec_media == act_media, "content-type",
                     f"got {act_media or 'none'!r}, recorded {rec_media or 'none'!r}")
        if recorded.is_stream and actual.is_stream:
            missing = _kinds(recorded) - _kinds(actual)
            if missing:
                sink.fail("events", f"recorded event kinds not seen this time: {sorted(missing)}", "info")
    sink.findings.extend(check_response(surface, request.method, request.path, actual))
    return [Finding(f.severity, f.check, f.message, cassette, index) for f in sink.findings]


def _kinds(resp: RecordedResponse) -> set[str]:
    kinds = set()
    for rec in resp.events or []:
        data = _json(rec.event.data)
        kinds.add(rec.event.event or (data.get("type") if isinstance(data, dict) else None) or "data")
    return kinds


# ---- helpers ----------------------------------------------------------------------------------

def _json(data: str | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _get(obj: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(obj, dict) and isinstance(part, str):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and -len(obj) <= part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def _typed_payloads(events: Sequence[tuple[str | None, str | None]], sink: _Sink,
                    check: str) -> list[dict[str, Any]]:
    """Decode events whose data must be a JSON object with a ``type`` matching ``event:``."""
    out = []
    for n, (name, data) in enumerate(events):
        payload = _json(data)
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            sink.fail(check, f"event {n} ({name}): data is not a JSON object with a 'type': {data!r:.80}")
            continue
        if name is not None and name != payload["type"]:
            sink.fail(check, f"event {n}: 'event: {name}' but data type {payload['type']!r}")
        out.append(payload)
    return out


# ---- Anthropic Messages ---------------------------------------------------------------------------

_ANTHROPIC_DELTAS = {"text": {"text_delta"}, "tool_use": {"input_json_delta"},
                     "server_tool_use": {"input_json_delta"},
                     "thinking": {"thinking_delta", "signature_delta"}, "redacted_thinking": set()}
_ANTHROPIC_STOPS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                    "model_context_window_exceeded"}


def _anthropic_stream(events: Sequence[tuple[str | None, str | None]], sink: _Sink) -> None:
    payloads = [p for p in _typed_payloads(events, sink, "anthropic.event") if p["type"] != "ping"]
    if not sink.require(bool(payloads), "anthropic.grammar", "empty stream"):
        return
    errored = payloads[-1]["type"] == "error"  # an overloaded_error mid-stream ends it early
    if errored:
        _check_error_body("anthropic", payloads[-1], None, sink, "anthropic.stream_error")
        payloads = payloads[:-1]
        if not payloads:
            return
    else:
        sink.require(payloads[-1]["type"] == "message_stop", "anthropic.grammar",
                     f"stream must close with message_stop, last is {payloads[-1]['type']}")
    first = payloads[0]
    if not sink.require(first["type"] == "message_start", "anthropic.grammar",
                        f"stream must open with message_start, first is {first['type']}"):
        return
    message = first.get("message") or {}
    for key in ("id", "model"):
        sink.require(isinstance(message.get(key), str), "anthropic.message_start", f"message.{key} missing")
    start_usage = message.get("usage") or {}
    sink.require(_is_int(start_usage.get("input_tokens")), "anthropic.usage",
                 "message_start usage.input_tokens missing")
    open_blocks: dict[int, str] = {}
    next_index = 0
    delta_seen = False
    for p in payloads[1:]:
        kind = p["type"]
        index = p.get("index")
        if kind == "content_block_start":
            block = p.get("content_block") or {}
            sink.require(index == next_index, "anthropic.blocks",
                         f"content_block_start index {index}, expected {next_index}")
            open_blocks[index] = block.get("type", "?")
            next_index += 1
        elif kind == "content_block_delta":
            if not sink.require(index in open_blocks, "anthropic.blocks",
                                f"delta for block {index} that is not open"):
                continue
            allowed = _ANTHROPIC_DELTAS.get(open_blocks[index])
            dtype = _get(p, "delta", "type")
            if allowed is not None:
                sink.require(dtype in allowed, "anthropic.blocks",
                             f"{dtype} inside a {open_blocks[index]} block")
        elif kind == "content_block_stop":
            sink.require(open_blocks.pop(index, None) is not None, "anthropic.blocks",
                         f"content_block_stop for block {index} that is not open")
        elif kind == "message_delta":
            sink.require(not open_blocks, "anthropic.blocks",
                         f"message_delta while blocks {sorted(open_blocks)} are open")
            delta_seen = True
            stop = _get(p, "delta", "stop_reason")
            sink.require(stop in _ANTHROPIC_STOPS, "anthropic.message_delta", f"stop_reason {stop!r}")
            usage = p.get("usage") or {}
            if sink.require(_is_int(usage.get("output_tokens")), "anthropic.usage",
                            "message_delta usage.output_tokens missing"):
                sink.require(usage["output_tokens"] >= (start_usage.get("output_tokens") or 0),
                             "anthropic.usage", "message_delta output_tokens below message_start's")
            for key in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
                if usage.get(key) is not None and start_usage.get(key) is not None:
                    sink.require(usage[key] == start_usage[key], "anthropic.usage",
                                 f"{key}: message_delta says {usage[key]}, message_start {start_usage[key]}")
        elif kind == "message_start":
            sink.fail("anthropic.grammar", "second message_start")
    if not errored:
        sink.require(delta_seen, "anthropic.grammar", "no message_delta (stop_reason and usage)")
        sink.require(not open_blocks, "anthropic.blocks", f"blocks {sorted(open_blocks)} never stopped")


def _anthropic_json(body: dict[str, Any], sink: _Sink) -> None:
    sink.require(body.get("type") == "message", "anthropic.message", f"type {body.get('type')!r}")
    for key in ("id", "model"):
        sink.require(isinstance(body.get(key), str), "anthropic.message", f"{key} missing")
    sink.require(body.get("role") == "assistant", "anthropic.message", "role is not assistant")
    sink.require(isinstance(body.get("content"), list), "anthropic.message", "content is not a list")
    sink.require(body.get("stop_reason") in _ANTHROPIC_STOPS, "anthropic.message",
                 f"stop_reason {body.get('stop_reason')!r}")
    usage = body.get("usage") or {}
    sink.require(_is_int(usage.get("input_tokens")) and _is_int(usage.get("output_tokens")),
                 "anthropic.usage", "usage.input_tokens/output_tokens missing")


# ---- OpenAI Responses (Codex) -----------------------------------------------------------------------

_RESPONSES_TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}


def _responses_stream(events: Sequence[tuple[str | None, str | None]], sink: _Sink) -> None:
    payloads = _typed_payloads(events, sink, "responses.event")
    if not sink.require(bool(payloads), "responses.grammar", "empty stream"):
        return
    sink.require(payloads[0]["type"] == "response.created", "responses.grammar",
                 f"stream must open with response.created, first is {payloads[0]['type']}")
    last = payloads[-1]
    sink.require(last["type"] in _RESPONSES_TERMINAL, "responses.grammar",
                 f"stream must end with response.completed (or failed/incomplete), last is {last['type']}")
    created_id = _get(payloads[0], "response", "id")
    added: set[int] = set()
    done: set[int] = set()
    for n, p in enumerate(payloads):
        kind = p["type"]
        if kind == "response.output_item.added":
            added.add(p.get("output_index"))
            sink.require(isinstance(_get(p, "item", "type"), str), "responses.items",
                         f"event {n}: output_item.added without item.type")
        elif kind == "response.output_item.done":
            done.add(p.get("output_index"))
            sink.require(p.get("output_index") in added, "responses.items",
                         f"event {n}: output_item.done for output_index {p.get('output_index')} never added")
        elif kind.endswith(".delta"):
            index = p.get("output_index")
            if sink.require(_is_int(index), "responses.delta", f"event {n}: {kind} without output_index"):
                sink.require(index in added, "responses.delta",
                             f"event {n}: {kind} before output_item.added for output_index {index}")
            if kind in ("response.output_text.delta", "response.refusal.delta"):
                sink.require(_is_int(p.get("content_index")), "responses.delta",
                             f"event {n}: {kind} without content_index")
                sink.require(isinstance(p.get("delta"), str), "responses.delta",
                             f"event {n}: {kind} delta is not text")
        elif kind == "response.completed":
            resp = p.get("response") or {}
            for key in ("id", "model"):
                sink.require(isinstance(resp.get(key), str), "responses.completed", f"response.{key} missing")
            usage = resp.get("usage") or {}
            sink.require(_is_int(usage.get("input_tokens")) and _is_int(usage.get("output_tokens")),
                         "responses.completed", "response.usage input_tokens/output_tokens missing")
            if created_id is not None:
                sink.require(resp.get("id") == created_id, "responses.completed",
                             "response.id differs from response.created's")
    if last["type"] == "response.completed":
        sink.require(added <= done, "responses.items",
                     f"output items {sorted(added - done)} never got output_item.done")


def _responses_json(body: dict[str, Any], sink: _Sink) -> None:
    sink.require(body.get("object") == "response", "responses.json", f"object {body.get('object')!r}")
    for key in ("id", "model"):
        sink.require(isinstance(body.get(key), str), "responses.json", f"{key} missing")
    sink.require(isinstance(body.get("output"), list), "responses.json", "output is not a list")
    usage = body.get("usage") or {}
    sink.require(_is_int(usage.get("input_tokens")) and _is_int(usage.get("output_tokens")),
                 "responses.json", "usage input_tokens/output_tokens missing")


# ---- Chat Completions (Cursor) ---------------------------------------------------------------------

def _chat_stream(events: Sequence[tuple[str | None, str | None]], sink: _Sink) -> None:
    if not sink.require(bool(events), "chat.grammar", "empty stream"):
        return
    sink.require(events[-1][1] == "[DONE]", "chat.grammar",
                 f"stream must end with data: [DONE], last is {events[-1][1]!r:.60}")
    chunks = [(n, _json(data)) for n, (_, data) in enumerate(events) if data != "[DONE]"]
    sink.require(len(chunks) == len(events) - 1, "chat.grammar", "[DONE] must appear once, last")
    finish_seen = False
    first_id = None
    tool_ids: dict[int, bool] = {}
    for n, chunk in chunks:
        if not sink.require(isinstance(chunk, dict), "chat.chunk", f"event {n}: data is not JSON"):
            continue
        if "error" in chunk:
            _check_error_body("cursor", chunk, None, sink, "chat.stream_error")
            continue
        sink.require(chunk.get("object") == "chat.completion.chunk", "chat.chunk",
                     f"event {n}: object {chunk.get('object')!r}")
        first_id = first_id or chunk.get("id")
        sink.require(isinstance(chunk.get("id"), str) and chunk.get("id") == first_id, "chat.chunk",
                     f"event {n}: id missing or changed mid-stream")
        choices = chunk.get("choices")
        if not sink.require(isinstance(choices, list), "chat.chunk", f"event {n}: choices missing"):
            continue
        for choice in choices:
            finish_seen = finish_seen or choice.get("finish_reason") is not None
            for call in _get(choice, "delta", "tool_calls") or []:
                index = call.get("index")
                if not sink.require(_is_int(index), "chat.tool_calls", f"event {n}: tool call without index"):
                    continue
                if index not in tool_ids:
                    tool_ids[index] = True
                    sink.require(isinstance(call.get("id"), str) and isinstance(
                        _get(call, "function", "name"), str), "chat.tool_calls",
                        f"event {n}: first delta of tool call {index} lacks id or function.name")
    sink.require(finish_seen, "chat.grammar", "no chunk carries a finish_reason")


def _chat_json(body: dict[str, Any], sink: _Sink) -> None:
    sink.require(body.get("object") == "chat.completion", "chat.json", f"object {body.get('object')!r}")
    sink.require(isinstance(body.get("id"), str), "chat.json", "id missing")
    message = _get(body, "choices", 0, "message")
    if sink.require(isinstance(message, dict), "chat.json", "choices[0].message missing"):
        sink.require(message.get("role") == "assistant", "chat.json", "message.role is not assistant")
    sink.require(_get(body, "choices", 0, "finish_reason") is not None, "chat.json", "finish_reason missing")
    usage = body.get("usage") or {}
    sink.require(_is_int(usage.get("prompt_tokens")) and _is_int(usage.get("completion_tokens")),
                 "chat.json", "usage prompt_tokens/completion_tokens missing")


# ---- Gemini --------------------------------------------------------------------------------------

def _gemini_chunk(n: int, chunk: Any, sink: _Sink) -> bool:
    if not sink.require(isinstance(chunk, dict), "gemini.chunk", f"chunk {n}: data is not a JSON object"):
        return False
    if "error" in chunk:
        _check_error_body("gemini", chunk, None, sink, "gemini.stream_error")
        return False
    for c, cand in enumerate(chunk.get("candidates") or []):
        for part in _get(cand, "content", "parts") or []:
            sink.require(isinstance(part, dict) and bool(
                {"text", "functionCall", "thought", "thoughtSignature", "inlineData"} & set(part)),
                "gemini.parts", f"chunk {n} candidate {c}: part without text or functionCall")
            call = part.get("functionCall") if isinstance(part, dict) else None
            if call is not None:
                sink.require(isinstance(call.get("name"), str), "gemini.parts",
                             f"chunk {n}: functionCall without name")
    return True


def _gemini_last(chunk: dict[str, Any], sink: _Sink) -> None:
    sink.require(isinstance(_get(chunk, "candidates", 0, "finishReason"), str), "gemini.finish",
                 "last chunk has no candidates[0].finishReason (Gemini CLI retries then fails)")
    usage = chunk.get("usageMetadata") or {}
    sink.require(_is_int(usage.get("promptTokenCount")) and _is_int(usage.get("totalTokenCount")),
                 "gemini.usage", "last chunk has no usageMetadata promptTokenCount/totalTokenCount")


def _gemini_stream(events: Sequence[tuple[str | None, str | None]], sink: _Sink) -> None:
    if not sink.require(bool(events), "gemini.grammar", "empty stream"):
        return
    chunks = [_json(data) for _, data in events]
    ok = [_gemini_chunk(n, chunk, sink) for n, chunk in enumerate(chunks)]
    sink.require(events[-1][1] != "[DONE]", "gemini.grammar", "Gemini streams do not end with [DONE]")
    if ok[-1]:
        _gemini_last(chunks[-1], sink)


def _gemini_json(body: dict[str, Any], sink: _Sink) -> None:
    if _gemini_chunk(0, body, sink):
        _gemini_last(body, sink)


# ---- errors and listings ------------------------------------------------------------------------

def _check_error(surface: str, resp: RecordedResponse, sink: _Sink) -> None:
    media = resp.content_type.split(";")[0].strip().lower()
    if not sink.require(media == "application/json", "error.content-type",
                        f"error {resp.status} answered as {resp.content_type or 'no content type'!r}"):
        return
    if sink.require(isinstance(resp.body, dict), "error.envelope", f"error {resp.status} body is not JSON"):
        _check_error_body(surface, resp.body, resp.status, sink, "error.envelope")
    if resp.status == 429:
        retry = resp.headers.get("retry-after")
        if retry is not None:
            sink.require(retry_after_valid(retry), "error.retry-after",
                         f"Retry-After {retry!r} is neither seconds nor an HTTP date (RFC 9110 10.2.3)")


_DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def retry_after_valid(value: str) -> bool:
    """RFC 9110 10.2.3: ``delay-seconds`` (digits; a decimal fraction is tolerated, some
    gateways send one and every SDK here parses it) or an IMF-fixdate ending in ``GMT``."""
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return True
    if not text.endswith(" GMT"):
        return False
    try:
        return email.utils.parsedate_to_datetime(text) is not None
    except (TypeError, ValueError):
        return False


def _check_error_body(surface: str, body: dict[str, Any], status: int | None, sink: _Sink,
                      check: str) -> None:
    error = body.get("error")
    if not sink.require(isinstance(error, dict), check, f"no 'error' object in {sorted(body)}"):
        return
    sink.require(isinstance(error.get("message"), str), check, "error.message missing")
    if surface == "anthropic":
        sink.require(body.get("type") == "error", check, "Anthropic errors have type 'error'")
        sink.require(isinstance(error.get("type"), str), check, "error.type missing")
    elif surface in ("openai", "cursor"):
        sink.require(isinstance(error.get("type"), str) or isinstance(error.get("code"), str), check,
                     "error.type/code missing")
    elif surface == "gemini":
        sink.require(isinstance(error.get("status"), str), check, "error.status missing")
        if status is not None:
            sink.require(error.get("code") == status, check, f"error.code {error.get('code')!r} != {status}")


def _check_models(surface: str, body: dict[str, Any], sink: _Sink) -> None:
    if surface == "gemini":
        models = body.get("models")
        if sink.require(isinstance(models, list), "models", "models is not a list"):
            sink.require(all(str(_get(m, "name")).startswith("models/") for m in models), "models",
                         "every model name starts with models/")
        return
    data = body.get("data")
    if sink.require(isinstance(data, list), "models", "data is not a list"):
        sink.require(all(isinstance(_get(m, "id"), str) for m in data), "models", "a model without id")
    if surface != "anthropic":
        sink.require(body.get("object") == "list", "models", f"object {body.get('object')!r}")


_Stream = Callable[[Sequence[tuple[str | None, str | None]], _Sink], None]
_STREAMS: dict[str, _Stream] = {"anthropic": _anthropic_stream, "openai": _responses_stream,
                                "cursor": _chat_stream, "gemini": _gemini_stream}
_JSON_BODIES: dict[str, Callable[[dict[str, Any], _Sink], None]] = {
    "anthropic": _anthropic_json, "openai": _responses_json, "cursor": _chat_json, "gemini": _gemini_json}
