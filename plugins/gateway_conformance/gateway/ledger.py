"""Usage tracking: one record per request, as AI Gateway's usage tables would hold it.

The dashboard question a platform team asks is "who used which model through which tool,
how much, and did it work". Each record answers it without ever holding the token (only the
identity it maps to). Records are plain dataclasses with ``to_dict()`` so the same rows can
feed an admin route, a fixture, and later an inference-table writer.

Headers worth keeping are an allow-list, not a dump, so secrets never reach the ledger.
``x-databricks-request-tags`` is the mock's name for caller-supplied tags (a JSON object or
``key=value`` pairs separated by commas); the source page does not name one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

REQUEST_TAGS_HEADER = "x-databricks-request-tags"

# Headers recorded verbatim (lower-case names). Session ids: Claude Code sends
# X-Claude-Code-Session-Id; Codex (0.133+) sends session-id / thread-id and an originator
# (older builds used session_id / conversation_id).
RECORDED_HEADERS = (
    "anthropic-beta",
    "anthropic-version",
    "x-databricks-use-coding-agent-mode",
    "x-claude-code-session-id",
    "session-id",
    "thread-id",
    "session_id",
    "conversation_id",
    "originator",
    "x-goog-api-client",
)
SESSION_HEADERS = ("x-claude-code-session-id", "session-id", "session_id", "conversation_id")

# user-agent prefix (lower-case) -> agent name; first match wins, so CLIs come before SDKs.
_AGENTS = (
    ("claude-cli", "claude-code"),
    ("claude-code", "claude-code"),
    ("codex", "codex"),
    ("geminicli", "gemini-cli"),
    ("gemini-cli", "gemini-cli"),
    ("cursor", "cursor"),
    ("anthropic/", "anthropic-sdk"),
    ("openai/", "openai-sdk"),
    ("google-genai-sdk", "google-genai-sdk"),
    ("python-httpx", "httpx"),
)


def guess_agent(user_agent: str | None) -> str:
    ua = (user_agent or "").lower()
    for needle, agent in _AGENTS:
        if needle in ua:
            return agent
    return "unknown"


def parse_tags(value: str | None) -> dict[str, str]:
    """Tags from the request-tags header; unparsable input is kept whole under ``raw``."""
    if not value:
        return {}
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return {str(k): str(v) for k, v in decoded.items()}
    pairs = [part.partition("=") for part in value.split(",")]
    if all(sep and key.strip() for key, sep, _ in pairs):
        return {key.strip(): val.strip() for key, _, val in pairs}
    return {"raw": value}


@dataclass
class LedgerRecord:
    """One request as the usage table sees it. Times: ``started_at`` wall clock (epoch s)."""

    request_id: str
    started_at: float
    surface: str
    endpoint: str
    method: str
    path: str
    identity: str | None = None
    agent: str = "unknown"
    user_agent: str | None = None
    model: str | None = None
    stream: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    status: int = 0
    error_kind: str | None = None
    fault: str | None = None
    latency_ms: float = 0.0
    first_byte_ms: float | None = None
    session_id: str | None = None
    request_tags: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    events: int = 0
    # perf_counter() at which each streamed event was handed to the server: proves streaming.
    produced_at: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note_headers(self, headers: Mapping[str, str]) -> None:
        self.user_agent = headers.get("user-agent")
        self.agent = guess_agent(self.user_agent)
        self.headers = {name: headers[name] for name in RECORDED_HEADERS if name in headers}
        self.session_id = next((headers[n] for n in SESSION_HEADERS if n in headers), None)
        self.request_tags = parse_tags(headers.get(REQUEST_TAGS_HEADER))


class Ledger:
    """Append-only list of records, safe to read from the test thread while the server writes."""

    def __init__(self) -> None:
        self._records: list[LedgerRecord] = []
        self._lock = threading.Lock()

    def add(self, record: LedgerRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, **match: Any) -> list[LedgerRecord]:
        """Records in arrival order, optionally only those whose fields equal ``match``."""
        with self._lock:
            records = list(self._records)
        return [r for r in records if all(getattr(r, k) == v for k, v in match.items())]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records()]

    def __len__(self) -> int:
        return len(self._records)
