"""What every surface module fills in: :class:`Surface`, and the findings its checks report.

A surface module knows one vendor API from its published reference and from what the agents
speaking it need, never from the mock's code (``gateway/``), so the same knowledge judges the
mock and real gateways. Its checks return :class:`Finding` s through a :class:`Sink` instead
of raising, so a run reports everything wrong with an answer at once.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway_conformance.roster import BASE_PATHS

Severity = Literal["error", "warning", "info"]
EndpointKind = Literal["generate", "count_tokens", "models", "probe", "other"]
# (event name, data) of each event of a stream that carries data.
Events = Sequence[tuple[str | None, str | None]]


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


class Sink:
    """Collects findings for one answer; ``fail`` never raises."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def fail(self, check: str, message: str, severity: Severity = "error") -> None:
        self.findings.append(Finding(severity, check, message))

    def require(self, ok: bool, check: str, message: str) -> bool:
        if not ok:
            self.fail(check, message)
        return ok


@dataclass(frozen=True)
class Routes:
    """Where a surface's endpoints sit under its base path; ``{model}`` stands for the model.

    ``generate[0]`` is the path its agents call (streaming); the others are its other forms.
    """

    generate: tuple[str, ...]
    models: str
    count_tokens: str | None = None

    def kind(self, method: str, path: str) -> EndpointKind:
        """What a request path asks for; anything may come before the route (the base path)."""
        path = path.split("?")[0].rstrip("/")
        if method.upper() == "HEAD":
            return "probe"
        if self.count_tokens and _route(self.count_tokens).search(path):
            return "count_tokens"
        if any(_route(template).search(path) for template in self.generate):
            return "generate"
        if method.upper() == "GET" and path.endswith("/models"):
            return "models"
        return "other"


@functools.cache
def _route(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template.split("?")[0]).replace(re.escape("{model}"), "[^/]+") + "$")


Request = tuple[str, dict[str, Any]]  # (path under the surface's base URL, JSON body)


@dataclass(frozen=True)
class Surface:
    """One vendor API as the judging side knows it (one module per surface builds one)."""

    name: str
    protocol: str  # its name in the docs
    routes: Routes
    model_in: Literal["body", "path"]  # where a request names its model
    listing: tuple[str, str]  # the model listing's list key and each entry's name key
    listing_prefix: str  # every listed name starts with it (Gemini: ``models/``)
    listing_object: str | None  # the listing's ``object`` (OpenAI style: ``list``)
    count_field: str | None  # the count_tokens answer's integer field
    request: Callable[..., Request]  # (model, prompt, *, stream, max_tokens=512): one user turn
    count_tokens_request: Callable[[str, str], Request] | None  # (model, text)
    check_stream: Callable[[Events, Sink], None]
    check_json: Callable[[dict[str, Any], Sink], None]
    check_error: Callable[..., None]  # (body, status | None, sink, check, *, exact=False)
    usage: Callable[[Any], tuple[int | None, int | None]]  # (input, output) of a JSON answer
    stream_usage: Callable[[Iterable[str]], tuple[int | None, int | None]]  # from the events' data
    text: Callable[[Any], str]  # the assistant text of a JSON answer
    # Headers its agents send that the provider reads (as recorded in fixtures/agents/*/cassettes):
    # a gateway must pass them through.
    agent_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_path(self) -> str:
        """Where the documentation mounts the surface under the gateway root (roster.py)."""
        return BASE_PATHS[self.name]

    @property
    def agent_path(self) -> str:
        """The generation path its agents call, from the gateway root (``{model}`` left in)."""
        return self.base_path + self.routes.generate[0]

    def check_models(self, body: dict[str, Any], sink: Sink) -> None:
        """A model listing: its list, every entry named (with the surface's prefix), and its
        ``object`` where the protocol has one."""
        key, name = self.listing
        entries = body.get(key)
        if sink.require(isinstance(entries, list), "models", f"{key} is not a list"):
            named = all(isinstance(get(m, name), str) and get(m, name).startswith(self.listing_prefix)
                        for m in entries)
            sink.require(named, "models", f"every model has a {name}" + (
                f" starting with {self.listing_prefix}" if self.listing_prefix else ""))
        if self.listing_object is not None:
            sink.require(body.get("object") == self.listing_object, "models",
                         f"object {body.get('object')!r}")

    def listed(self, body: Any) -> list[Any]:
        """The model names a listing gives (empty when it is not one)."""
        key, name = self.listing
        entries = body.get(key) if isinstance(body, dict) else None
        return [m.get(name) for m in entries if isinstance(m, dict)] if isinstance(entries, list) else []

    def aim(self, path: str, body: Any, model: str) -> tuple[str, bool]:
        """``path`` asking for ``model`` where this surface names it, and whether ``body`` (a
        recorded request's JSON) was changed in place to name it."""
        if self.model_in == "path":
            return _PATH_MODEL.sub(lambda m: f"{m.group(1)}{model}{m.group(2)}", path), False
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            body["model"] = model
            return path, True
        return path, False


_PATH_MODEL = re.compile(r"(/models/)[^/:]+(:)")


# ---- helpers the surface modules share ------------------------------------------------------------

def parse(data: str | None) -> Any:
    """JSON of one event's data, or None."""
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get(obj: Any, *path: str | int) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a step is missing."""
    for part in path:
        if isinstance(obj, dict) and isinstance(part, str):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and -len(obj) <= part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def typed_payloads(events: Events, sink: Sink, check: str) -> list[dict[str, Any]]:
    """Decode events whose data must be a JSON object with a ``type`` matching ``event:``."""
    out = []
    for n, (name, data) in enumerate(events):
        payload = parse(data)
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            sink.fail(check, f"event {n} ({name}): data is not a JSON object with a 'type': {data!r:.80}")
            continue
        if name is not None and name != payload["type"]:
            sink.fail(check, f"event {n}: 'event: {name}' but data type {payload['type']!r}")
        out.append(payload)
    return out


def error_message(body: Any, sink: Sink, check: str, *, exact: bool) -> dict[str, Any] | None:
    """The ``error`` object every surface's envelope has, with its ``message`` (non-empty when
    ``exact``); None when there is none."""
    error = body.get("error") if isinstance(body, dict) else None
    if not sink.require(isinstance(error, dict), check,
                        f"no 'error' object in {sorted(body) if isinstance(body, dict) else body!r}"):
        return None
    message = error.get("message")
    sink.require(isinstance(message, str) and (bool(message) or not exact), check, "error.message missing")
    return error


def json_events(datas: Iterable[str]) -> Iterable[dict[str, Any]]:
    """The events' data that are JSON objects ([DONE] and the like left out)."""
    return (event for event in map(parse, datas) if isinstance(event, dict))


Counts = tuple[int | None, int | None]  # (input, output) tokens


def usage_counts(counts: Any, input_key: str, output_key: str) -> Counts:
    """(input, output) from a usage object's two counters."""
    counts = counts if isinstance(counts, dict) else {}
    return counts.get(input_key), counts.get(output_key)


def require_counts(sink: Sink, counts: Any, input_key: str, output_key: str, check: str,
                   message: str) -> None:
    """A usage object whose two counters are integers."""
    found = usage_counts(counts, input_key, output_key)
    sink.require(all(is_int(n) for n in found), check, message)


def last_usage(datas: Iterable[str], part: Callable[[dict[str, Any]], Any],
               usage: Callable[[Any], Counts]) -> Counts:
    """The usage of the last event for which ``part`` gives what carries it (None: not this one)."""
    found: Counts = (None, None)
    for event in json_events(datas):
        carrier = part(event)
        if carrier is not None:
            found = usage(carrier)
    return found
