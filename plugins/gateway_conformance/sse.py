"""One server-sent-events codec for every surface, the recording proxy and the cassettes.

The parser is incremental (bytes arrive in arbitrary chunks) and lossless: every event keeps
the exact bytes it was parsed from, so a recorded stream replays byte for byte even when the
upstream used CRLF line endings, spacing or field order that the canonical writer would not.
Parsing follows the WHATWG event-stream rules (``data`` lines joined by ``\\n``, one leading
space after the colon dropped, comments start with ``:``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event; ``raw`` is the wire form it came from, when parsed."""

    data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comments: tuple[str, ...] = ()
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def encode(self) -> bytes:
        """The exact wire bytes: the original ones when parsed, else the canonical form."""
        if self.raw is not None:
            return self.raw
        return self.canonical()

    def canonical(self) -> bytes:
        lines = [f":{c}" for c in self.comments]
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            lines.extend(f"data: {part}" if part else "data:" for part in self.data.split("\n"))
        return ("\n".join(lines) + "\n\n").encode()

    def is_lossless(self) -> bool:
        """True when the canonical form reproduces the original bytes (no need to store them)."""
        return self.raw is None or self.raw == self.canonical()


def encode_event(data: str | None = None, *, event: str | None = None, id: str | None = None,
                 comments: Iterable[str] = ()) -> bytes:
    """Shortcut for surfaces that produce events: the canonical bytes of one event."""
    return SSEEvent(data=data, event=event, id=id, comments=tuple(comments)).canonical()


class SSEParser:
    """Feed bytes, get events with their raw bytes. Keeps partial lines between feeds."""

    def __init__(self) -> None:
        self._buf = b""
        self._raw = bytearray()
        self._fields: dict[str, list[str]] = {}
        self._comments: list[str] = []
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buf += chunk
        events: list[SSEEvent] = []
        while True:
            line, ending = self._next_line()
            if line is None:
                break
            self._raw += line + ending
            if line == b"":
                event = self._dispatch()
                if event is not None:
                    events.append(event)
                continue
            self._take(line.decode("utf-8", errors="replace"))
        return events

    def close(self) -> bytes:
        """End of stream: return bytes that never formed a complete event (a cut stream)."""
        rest = bytes(self._raw) + self._buf
        self._raw.clear()
        self._buf = b""
        return rest

    def _next_line(self) -> tuple[bytes | None, bytes]:
        for i, byte in enumerate(self._buf):
            if byte == 0x0A:  # LF
                line, self._buf = self._buf[:i], self._buf[i + 1:]
                return line, b"\n"
            if byte == 0x0D:  # CR or CRLF; a lone CR at the end may still become CRLF
                if i + 1 == len(self._buf):
                    return None, b""
                if self._buf[i + 1] == 0x0A:
                    line, self._buf = self._buf[:i], self._buf[i + 2:]
                    return line, b"\r\n"
                line, self._buf = self._buf[:i], self._buf[i + 1:]
                return line, b"\r"
        return None, b""

    def _take(self, line: str) -> None:
        if line.startswith(":"):
            self._comments.append(line[1:])
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "retry":
            if value.isdigit():
                self._retry = int(value)
            return
        if name in ("data", "event", "id"):
            self._fields.setdefault(name, []).append(value)

    def _dispatch(self) -> SSEEvent | None:
        fields, comments, retry = self._fields, tuple(self._comments), self._retry
        if not fields and not comments and retry is None:
            return None  # a stray blank line: its bytes stay in front of the next event
        raw = bytes(self._raw)
        self._raw.clear()
        self._fields, self._comments, self._retry = {}, [], None
        data = "\n".join(fields["data"]) if "data" in fields else None
        event = fields["event"][-1] if "event" in fields else None
        ident = fields["id"][-1] if "id" in fields else None
        return SSEEvent(data=data, event=event, id=ident, retry=retry, comments=comments, raw=raw)


def parse_events(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Parse a whole stream given as chunks (a body, or an iterator of network reads)."""
    parser = SSEParser()
    for chunk in chunks:
        yield from parser.feed(chunk)
