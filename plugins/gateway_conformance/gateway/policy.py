"""Gateway governance: bearer-token auth, model permissions, QPM/TPM rate limits.

AI Gateway's promise to platform teams is that admins decide who may call which model and
how fast. The mock enforces the same three rules on every surface, before any responder
runs, and answers with :class:`GatewayError` so each surface renders its own envelope.

Rate limits are sliding 60-second windows per identity, read from a :class:`Clock`; tests
use :class:`ManualClock` and move time by hand, so no test ever sleeps to clear a window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway_conformance.gateway import admin_input as check
from gateway_conformance.gateway.turns import GatewayError

WINDOW_SECONDS = 60.0


class Clock(Protocol):
    """Seconds on a monotonic scale; only differences matter."""

    def now(self) -> float: ...


class RealClock:
    """The process's monotonic clock: what ``serve`` uses."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to: rate-limit windows clear without sleeping."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now += seconds
            return self._now


@dataclass(frozen=True)
class Limits:
    """Per-identity limits; ``None`` means unlimited."""

    qpm: int | None = None
    tpm: int | None = None


# The vendors' own API-key forms, after ``Authorization: Bearer``: what a gateway sends its
# upstream provider (Anthropic ``x-api-key``, Google ``x-goog-api-key`` or ``?key=``), so the
# mock can stand behind a real gateway as its provider (upstream mode, docs/platform-teams.md).
API_KEY_HEADERS = ("x-api-key", "x-goog-api-key")
API_KEY_QUERY = "key"


def presented_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token a request presents: bearer first, then a vendor key header, then ``?key=``."""
    keys = [headers.get(name) for name in API_KEY_HEADERS] + [query.get(API_KEY_QUERY)]
    return bearer_token(headers.get("authorization"), next((k for k in keys if k and k.strip()), None))


def bearer_token(authorization: str | None, api_key: str | None = None) -> str | None:
    """The presented token: ``Authorization: Bearer`` first, then an API-key header.

    Gemini CLI sends the PAT both as bearer and as ``x-goog-api-key``; the bearer wins, and the
    key header alone is accepted too so the google-genai SDK's default auth works.
    """
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return None


class _Window:
    """One identity's requests in the last minute, as (time, tokens) entries."""

    def __init__(self) -> None:
        self.entries: deque[list[float]] = deque()
        self.tokens = 0.0

    def expire(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - WINDOW_SECONDS:
            self.tokens -= self.entries.popleft()[1]

    def seconds_until_tokens_fit(self, now: float, needed: float, limit: int) -> float:
        """How long until old entries expire enough for ``needed`` more tokens to fit."""
        remaining = self.tokens
        for started, tokens in self.entries:
            remaining -= tokens
            if remaining + needed <= limit:
                return started + WINDOW_SECONDS - now
        return WINDOW_SECONDS


class Policy:
    """Who may call, which models, how fast. Thread-safe: tests reconfigure it from their thread."""

    def __init__(self, tokens: Mapping[str, str], models: Iterable[str], *,
                 permissions: Mapping[str, Collection[str]] | None = None,
                 limits: Limits = Limits(), clock: Clock | None = None) -> None:
        self._tokens = dict(tokens)
        self.models: tuple[str, ...] = tuple(models)
        self._default_permissions = {k: frozenset(v) for k, v in (permissions or {}).items()}
        self._default_limits = limits
        self.clock: Clock = clock or RealClock()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the configured permissions and limits, with empty windows."""
        with self._lock:
            self.permissions = dict(self._default_permissions)
            self.limits = self._default_limits
            self._windows: dict[str, _Window] = {}

    def set_limits(self, *, qpm: int | None = None, tpm: int | None = None) -> None:
        """``None``: unlimited. Checked here so no value reaches ``admit`` that would break it."""
        check.count("qpm", qpm)
        check.count("tpm", tpm)
        with self._lock:
            self.limits = Limits(qpm=qpm, tpm=tpm)
            self._windows = {}

    def allow(self, identity: str, models: Collection[str] | None) -> None:
        """Restrict ``identity`` to ``models`` (``None``: every model)."""
        with self._lock:
            if models is None:
                self.permissions.pop(identity, None)
            else:
                self.permissions[identity] = frozenset(models)

    def authenticate(self, token: str | None) -> str:
        """The identity behind a token; 401 tells a missing token from an unknown one."""
        if token is None:
            raise GatewayError(401, "authentication",
                               "Missing authentication: send a Databricks token as 'Authorization: Bearer'.")
        identity = self._tokens.get(token)
        if identity is None:
            raise GatewayError(401, "authentication", "Invalid bearer token.")
        return identity

    def check_model(self, identity: str, model: str) -> None:
        if model not in self.models:
            raise GatewayError(404, "not_found", f"model: {model}")
        allowed = self.permissions.get(identity)
        if allowed is not None and model not in allowed:
            raise GatewayError(403, "permission",
                               f"Identity '{identity}' does not have permission to use model '{model}'.")

    def admit(self, identity: str, input_tokens: int) -> None:
        """Count one request and its input tokens, or refuse with 429 and ``retry_after``."""
        limits = self.limits
        if limits.qpm is None and limits.tpm is None:
            return
        with self._lock:
            now = self.clock.now()
            window = self._windows.setdefault(identity, _Window())
            window.expire(now)
            if limits.qpm is not None and len(window.entries) >= limits.qpm:
                wait = window.entries[0][0] + WINDOW_SECONDS - now if window.entries else WINDOW_SECONDS
                raise _rate_limited(f"{limits.qpm} requests per minute", wait)
            if limits.tpm is not None and window.tokens + input_tokens > limits.tpm:
                wait = window.seconds_until_tokens_fit(now, input_tokens, limits.tpm)
                raise _rate_limited(f"{limits.tpm} tokens per minute", wait)
            window.entries.append([now, float(input_tokens)])
            window.tokens += input_tokens

    def charge(self, identity: str, output_tokens: int) -> None:
        """Add a reply's output tokens to the request admitted last for ``identity``."""
        if self.limits.tpm is None or output_tokens <= 0:
            return
        with self._lock:
            window = self._windows.get(identity)
            if window and window.entries:
                window.entries[-1][1] += output_tokens
                window.tokens += output_tokens


def _rate_limited(what: str, wait: float) -> GatewayError:
    seconds = max(1, math.ceil(wait))
    return GatewayError(429, "rate_limit",
                        f"This request would exceed the rate limit of {what} for this token. "
                        f"Please retry after {seconds} seconds.", retry_after=seconds)
