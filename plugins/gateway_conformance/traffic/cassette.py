"""The cassette: one recorded agent session, lossless, readable and diffable.

A cassette is JSON with sorted keys, indented, and each SSE event on a single line, so a
re-recording shows up in ``git diff`` as the events that changed. Streams are stored as the
parsed events (``event``, ``data``, ``id``, ``retry``, comments) with their time offset in
milliseconds from the request start; an event's exact wire bytes are kept in ``raw`` only
when the canonical SSE form would not reproduce them (CRLF endings, odd spacing), and bytes
after the last complete event (a cut stream) in ``tail``. Replaying the events therefore
gives back exactly the bytes the upstream sent. JSON bodies are stored as data; their exact
text is kept only when the compact encoding would not reproduce it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway_conformance.sse import SSEEvent, SSEParser

FORMAT_VERSION = 1
SSE_MEDIA_TYPE = "text/event-stream"

# Headers that describe one connection or one encoding of the body, not the exchange: a
# replay computes its own, so storing them would only make diffs noisy and replays wrong.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
    "date", "server", "host", "accept-encoding", "te", "trailer", "upgrade",
    "proxy-connection", "alt-svc",
})


class CassetteError(ValueError):
    """A cassette file that cannot be read: the message names the file and the problem."""


@dataclass
class RecordedEvent:
    """One SSE event and when it arrived, in ms after the request was sent."""

    t_ms: float
    event: SSEEvent

    def to_json(self) -> dict[str, Any]:
        ev = self.event
        out: dict[str, Any] = {"t_ms": round(self.t_ms, 1)}
        for name in ("event", "id", "retry", "data"):
            value = getattr(ev, name)
            if value is not None:
                out[name] = value
        if ev.comments:
            out["comments"] = list(ev.comments)
        if not ev.is_lossless():
            out.update(_bytes_field("raw", ev.encode()))
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RecordedEvent:
        raw = _bytes_value(obj, "raw")
        ev = SSEEvent(data=obj.get("data"), event=obj.get("event"), id=obj.get("id"),
                      retry=obj.get("retry"), comments=tuple(obj.get("comments", ())), raw=raw)
        return cls(t_ms=float(obj["t_ms"]), event=ev)


@dataclass
class RecordedRequest:
    """What the client sent. ``body`` is decoded JSON when the body was JSON, else text;
    ``body_text`` keeps the exact text of a JSON body only when compact re-encoding differs
    (as for responses), so the data stays comparable and the bytes stay exact."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    body_text: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path,
                               "headers": dict(sorted(self.headers.items()))}
        if self.query:
            out["query"] = [list(pair) for pair in self.query]
        if self.body is not None:
            out["body"] = self.body
        if self.body_text is not None:
            out["body_text"] = self.body_text
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RecordedRequest:
        return cls(method=obj["method"], path=obj["path"],
                   query=[(k, v) for k, v in obj.get("query", [])],
                   headers=dict(obj.get("headers", {})), body=obj.get("body"),
                   body_text=obj.get("body_text"))

    def body_bytes(self) -> bytes:
        if self.body_text is not None:
            return self.body_text.encode()
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class RecordedResponse:
    """What the upstream answered: a body (JSON data or text), or a list of timed events."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    body_text: str | None = None  # exact text when the JSON body does not re-encode identically
    events: list[RecordedEvent] | None = None
    tail: bytes = b""  # bytes after the last complete event (a cut stream)
    t_headers_ms: float = 0.0
    t_end_ms: float = 0.0

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def body_bytes(self) -> bytes:
        """The exact bytes of the whole body, as the upstream sent them."""
        if self.events is not None:
            return b"".join(e.event.encode() for e in self.events) + self.tail
        if self.body_text is not None:
            return self.body_text.encode()
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return _compact(self.body).encode()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "headers": dict(sorted(self.headers.items())),
                               "t_headers_ms": round(self.t_headers_ms, 1),
                               "t_end_ms": round(self.t_end_ms, 1)}
        if self.events is not None:
            out["events"] = [e.to_json() for e in self.events]
            if self.tail:
                out.update(_bytes_field("tail", self.tail))
        else:
            if self.body is not None:
                out["body"] = self.body
            if self.body_text is not None:
                out["body_text"] = self.body_text
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RecordedResponse:
        events = obj.get("events")
        return cls(status=int(obj["status"]), headers=dict(obj.get("headers", {})),
                   body=obj.get("body"), body_text=obj.get("body_text"),
                   events=None if events is None else [RecordedEvent.from_json(e) for e in events],
                   tail=_bytes_value(obj, "tail") or b"",
                   t_headers_ms=float(obj.get("t_headers_ms", 0.0)),
                   t_end_ms=float(obj.get("t_end_ms", 0.0)))

    @classmethod
    def from_body(cls, status: int, headers: dict[str, str], body: bytes, *,
                  t_headers_ms: float = 0.0, t_end_ms: float = 0.0) -> RecordedResponse:
        """A response from its complete body: SSE is parsed (all events at ``t_end_ms``)."""
        headers = clean_headers(headers)
        if is_sse(headers):
            parser = SSEParser()
            events = [RecordedEvent(t_end_ms, ev) for ev in parser.feed(body)]
            return cls(status, headers, events=events, tail=parser.close(),
                       t_headers_ms=t_headers_ms, t_end_ms=t_end_ms)
        data, text = decode_body(body, headers)
        return cls(status, headers, body=data, body_text=text, t_headers_ms=t_headers_ms,
                   t_end_ms=t_end_ms)


@dataclass
class Interaction:
    """One request and its response. ``injected_fault`` marks an error the recorder caused on
    purpose (e.g. a 429 before a retry), so a replay against a gateway without that fault
    knows the recorded status is not the gateway's normal answer."""

    request: RecordedRequest
    response: RecordedResponse
    injected_fault: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {"request": self.request.to_json(), "response": self.response.to_json()}
        if self.injected_fault:
            out["injected_fault"] = True
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Interaction:
        return cls(request=RecordedRequest.from_json(obj["request"]),
                   response=RecordedResponse.from_json(obj["response"]),
                   injected_fault=bool(obj.get("injected_fault", False)))


@dataclass
class Metadata:
    """Who produced the traffic and how to produce it again.

    ``ignore`` lists extra request-body paths (dotted, ``*`` for any key or index) that
    replay matching treats as volatile for this cassette, on top of the built-in list.
    """

    agent: str
    surface: str
    agent_version: str = "unknown"
    recorded_at: str = ""
    synthetic: bool = False
    rerecord: str = ""
    description: str = ""
    ignore: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {"format": FORMAT_VERSION, "agent": self.agent, "agent_version": self.agent_version,
               "surface": self.surface, "recorded_at": self.recorded_at,
               "synthetic": self.synthetic, "rerecord": self.rerecord}
        if self.description:
            out["description"] = self.description
        if self.ignore:
            out["ignore"] = list(self.ignore)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Metadata:
        version = obj.get("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise CassetteError(f"cassette format {version} is not supported (expected {FORMAT_VERSION})")
        return cls(agent=obj["agent"], surface=obj["surface"],
                   agent_version=obj.get("agent_version", "unknown"),
                   recorded_at=obj.get("recorded_at", ""), synthetic=bool(obj.get("synthetic", False)),
                   rerecord=obj.get("rerecord", ""), description=obj.get("description", ""),
                   ignore=list(obj.get("ignore", [])))


@dataclass
class Cassette:
    meta: Metadata
    interactions: list[Interaction] = field(default_factory=list)
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        if self.path is None:
            return f"{self.meta.agent}/<unsaved>"
        return f"{self.meta.agent}/{self.path.stem}"

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta.to_json(), "interactions": [i.to_json() for i in self.interactions]}

    @classmethod
    def from_json(cls, obj: dict[str, Any], path: Path | None = None) -> Cassette:
        return cls(meta=Metadata.from_json(obj["meta"]),
                   interactions=[Interaction.from_json(i) for i in obj.get("interactions", [])],
                   path=path)

    def dumps(self) -> str:
        return dumps(self.to_json())

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps(), encoding="utf-8")
        self.path = path
        return path

    @classmethod
    def load(cls, path: Path) -> Cassette:
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls.from_json(obj, Path(path))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, CassetteError) as exc:
            raise CassetteError(f"{path}: not a readable cassette: {exc!r}") from exc


# ---- body helpers -----------------------------------------------------------------------

def clean_headers(headers: Any) -> dict[str, str]:
    """Lower-cased headers without the hop-by-hop ones; repeated headers joined by ', '."""
    out: dict[str, str] = {}
    items = headers.multi_items() if hasattr(headers, "multi_items") else dict(headers).items()
    for name, value in items:
        key = name.lower()
        if key in HOP_BY_HOP:
            continue
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def is_sse(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == SSE_MEDIA_TYPE


def is_json(headers: dict[str, str]) -> bool:
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def decode_body(body: bytes, headers: dict[str, str]) -> tuple[Any, str | None]:
    """(data, exact_text): JSON as data (exact text only when compact re-encoding differs),
    other text as a string, nothing for an empty body."""
    if not body:
        return None, None
    text = body.decode("utf-8", errors="surrogateescape")
    if is_json(headers) or text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except ValueError:
            return text, None
        return data, (None if _compact(data) == text else text)
    return text, None


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _bytes_field(name: str, raw: bytes) -> dict[str, str]:
    try:
        return {name: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": base64.b64encode(raw).decode("ascii")}


def _bytes_value(obj: dict[str, Any], name: str) -> bytes | None:
    if name in obj:
        return obj[name].encode("utf-8")
    if f"{name}_b64" in obj:
        return base64.b64decode(obj[f"{name}_b64"])
    return None


# ---- the file layout ----------------------------------------------------------------------

def dumps(obj: Any) -> str:
    """Indented JSON with sorted keys, except that each SSE event stays on one line."""
    return "".join(_render(obj, 0, None)) + "\n"


def _render(obj: Any, depth: int, key: str | None) -> Iterator[str]:
    pad, inner = "  " * depth, "  " * (depth + 1)
    one_line = key == "events"
    if isinstance(obj, dict) and obj:
        yield "{\n"
        items = sorted(obj.items())
        for n, (k, v) in enumerate(items):
            yield f"{inner}{json.dumps(k, ensure_ascii=False)}: "
            yield from _render(v, depth + 1, k)
            yield ",\n" if n + 1 < len(items) else "\n"
        yield f"{pad}}}"
    elif isinstance(obj, list) and obj:
        yield "[\n"
        for n, item in enumerate(obj):
            yield inner
            if one_line:
                yield json.dumps(item, sort_keys=True, ensure_ascii=False)
            else:
                yield from _render(item, depth + 1, None)
            yield ",\n" if n + 1 < len(obj) else "\n"
        yield f"{pad}]"
    else:
        yield json.dumps(obj, ensure_ascii=False)


def iter_cassettes(agent_dir: Path) -> Iterator[Path]:
    """The cassette files of one agent folder, in a stable order."""
    folder = agent_dir / "cassettes"
    if folder.is_dir():
        yield from sorted(folder.glob("*.json"))
