"""Usage tracking: one record per request, as AI Gateway's usage tables would hold it.

The dashboard question a platform team asks is "who used which model through which tool,
how much, and did it work". Each record answers it without ever holding the token (only the
identity it maps to). Records are plain dataclasses with ``to_dict()`` so the same records
feed the admin route, the fixtures, and the usage and inference tables (``gateway/usage``).

The ledger is a bounded window (the last ``max_records`` requests): it is what tests and the
admin route read back, while the Delta tables keep everything, so ``serve`` can run for
days in a fixed amount of memory. Headers worth keeping are an allow-list, not a dump, so
secrets never reach the ledger; request tags are read by ``gateway/usage/tags.py``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Records the ledger keeps by default (~3 KB each): what a test or an admin reads back is
#: recent; the usage tables keep everything.
DEFAULT_WINDOW = 2_000

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
#: Query parameters kept in the record's ``query`` (Gemini's ``?key=`` never is).
RECORDED_QUERY = ("beta", "alt")
SESSION_HEADERS = ("x-claude-code-session-id", "session-id", "session_id", "conversation_id")
# Headers the suite itself invents to see whether a gateway forwards custom headers (upstream mode).
PROBE_HEADER_PREFIX = "x-gwc-"

#: The agent name of the suite's own probe traffic (the dashboard leaves it out).
SUITE_AGENT = "gateway-conformance"

# user-agent prefix (lower-case) -> agent name; first match wins, so CLIs come before SDKs.
_AGENTS = (
    ("gateway-conformance", SUITE_AGENT),
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
    error_message: str | None = None
    # Query parameters on the allow-list (``beta``, ``alt``): never an API key passed as ``?key=``.
    query: str = ""
    # Set when a model (responder, cassette) was invoked: refusals have a request id but no invocation.
    invocation_id: str | None = None
    fault: str | None = None
    latency_ms: float = 0.0
    first_byte_ms: float | None = None
    session_id: str | None = None
    request_tags: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    events: int = 0
    # perf_counter() at which each streamed event was handed to the server: proves streaming.
    produced_at: list[float] = field(default_factory=list)
    # Epoch seconds minus perf_counter() when the request arrived: add it to a produced_at
    # value to compare with another process's wall clock (upstream mode's timing check).
    wall_minus_perf: float = 0.0
    marker: str | None = None  # the correlation marker in the body (gateway/markers.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note_headers(self, headers: Mapping[str, str]) -> None:
        self.user_agent = headers.get("user-agent")
        self.agent = guess_agent(self.user_agent)
        self.headers = {name: value for name, value in headers.items()
                        if name in RECORDED_HEADERS or name.startswith(PROBE_HEADER_PREFIX)}
        self.session_id = next((headers[n] for n in SESSION_HEADERS if n in headers), None)


class Ledger:
    """The last ``max_records`` records in arrival order, safe to read from the test thread
    while the server writes. ``total`` counts every record ever added."""

    def __init__(self, max_records: int = DEFAULT_WINDOW) -> None:
        if max_records < 1:
            raise ValueError("a ledger keeps at least one record")
        self._records: deque[LedgerRecord] = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self.total = 0

    @property
    def max_records(self) -> int:
        return self._records.maxlen or 0

    def add(self, record: LedgerRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.total += 1

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
