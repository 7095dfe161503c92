"""Secrets never reach a cassette: redact them, then refuse to save if any pattern remains.

Redaction works in two passes. Credentials in known places (auth headers, cookies, key-like
query parameters) are replaced by :data:`PLACEHOLDER`, and every literal value seen there is
remembered so the same secret is scrubbed wherever else it shows up (an agent echoing its
key into a prompt). Then every string in the cassette is searched for token-shaped text
(:data:`SECRET_PATTERNS`). :func:`find_secrets` runs the same search over a finished
cassette; the recorder refuses to write one with any finding.

The placeholder deliberately contains ``<`` and ``>`` so that ``Bearer <redacted>`` does not
itself look like a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gateway_conformance.sse import SSEEvent
from gateway_conformance.traffic.cassette import Cassette, RecordedEvent

PLACEHOLDER = "<redacted>"

SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key",
    "cookie", "set-cookie", "x-databricks-token", "openai-api-key",
})
SECRET_QUERY_KEYS = frozenset({"key", "api_key", "apikey", "token", "access_token", "sig", "signature"})

# Token shapes of the services the agents talk to; names are reported, values never are.
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "databricks-pat": re.compile(r"\bdapi[0-9a-f]{32}(?:-\d+)?\b"),
    "openai-or-anthropic-key": re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),
    "google-api-key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    "github-token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "bearer-value": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
}


class SecretRemains(ValueError):
    """A cassette still holds a secret; the message names where, never the value."""


@dataclass(frozen=True)
class SecretFinding:
    location: str  # e.g. "interactions[0].request.headers.authorization"
    kind: str

    def __str__(self) -> str:
        return f"{self.location}: {self.kind}"


class Redactor:
    """Scrubs one cassette; ``known`` are literal secrets to remove wherever they appear."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self.known: set[str] = {k for k in known if len(k) >= 6}

    # -- places where credentials live by definition --------------------------------------
    def header(self, name: str, value: str) -> str:
        if name.lower() not in SECRET_HEADERS:
            return self.text(value)
        scheme, sep, secret = value.partition(" ")
        if sep and scheme.lower() in ("bearer", "basic", "token"):
            self._remember(secret.strip())
            return f"{scheme} {PLACEHOLDER}"
        self._remember(value.strip())
        return PLACEHOLDER

    def query(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for key, value in pairs:
            if key.lower() in SECRET_QUERY_KEYS and value:
                self._remember(value)
                out.append((key, PLACEHOLDER))
            else:
                out.append((key, self.text(value)))
        return out

    # -- anywhere else ---------------------------------------------------------------------
    def text(self, value: str) -> str:
        for secret in sorted(self.known, key=len, reverse=True):
            value = value.replace(secret, PLACEHOLDER)
        for name, pattern in SECRET_PATTERNS.items():
            if name == "bearer-value":
                value = pattern.sub(f"Bearer {PLACEHOLDER}", value)
            else:
                value = pattern.sub(PLACEHOLDER, value)
        return value

    def data(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.data(v) for v in obj]
        if isinstance(obj, dict):
            return {self.text(k): self.data(v) for k, v in obj.items()}
        return obj

    def cassette(self, cassette: Cassette) -> Cassette:
        """Redact in place (headers and query first, so their secrets are known everywhere)."""
        for inter in cassette.interactions:
            req = inter.request
            req.headers = {k: self.header(k, v) for k, v in req.headers.items()}
            req.query = self.query(req.query)
            inter.response.headers = {k: self.header(k, v) for k, v in inter.response.headers.items()}
        for inter in cassette.interactions:
            inter.request.body = self.data(inter.request.body)
            if inter.request.body_text is not None:
                inter.request.body_text = self.text(inter.request.body_text)
            resp = inter.response
            resp.body = self.data(resp.body)
            if resp.body_text is not None:
                resp.body_text = self.text(resp.body_text)
            if resp.events is not None:
                resp.events = [self._event(e) for e in resp.events]
            if resp.tail:
                resp.tail = self.text(resp.tail.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape")
        cassette.meta.rerecord = self.text(cassette.meta.rerecord)
        return cassette

    def _event(self, rec: RecordedEvent) -> RecordedEvent:
        ev = rec.event
        raw = ev.raw
        if raw is not None:
            raw = self.text(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        clean = SSEEvent(data=None if ev.data is None else self.text(ev.data), event=ev.event,
                         id=ev.id, retry=ev.retry, comments=tuple(self.text(c) for c in ev.comments),
                         raw=raw)
        return RecordedEvent(rec.t_ms, clean)

    def _remember(self, secret: str) -> None:
        if len(secret) >= 6 and secret != PLACEHOLDER:
            self.known.add(secret)


def redact(cassette: Cassette, known: Iterable[str] = ()) -> Cassette:
    return Redactor(known).cassette(cassette)


def scan_text(text: str) -> list[str]:
    """The names of the secret patterns found in ``text``."""
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def find_secrets(cassette: Cassette) -> list[SecretFinding]:
    """Every place in the serialised cassette where a secret pattern or credential remains."""
    findings = []
    for location, value in _walk(cassette.to_json(), ""):
        findings.extend(SecretFinding(location, kind) for kind in scan_text(value))
        leaf = location.rsplit(".", 1)[-1]
        if ".headers." in location and leaf in SECRET_HEADERS and PLACEHOLDER not in value:
            findings.append(SecretFinding(location, "credential header not redacted"))
    for n, inter in enumerate(cassette.interactions):
        for key, value in inter.request.query:
            if key.lower() in SECRET_QUERY_KEYS and value and value != PLACEHOLDER:
                findings.append(SecretFinding(f"interactions[{n}].request.query.{key}",
                                              "credential query parameter not redacted"))
    return findings


def ensure_clean(cassette: Cassette) -> None:
    findings = find_secrets(cassette)
    if findings:
        where = "; ".join(str(f) for f in findings[:10])
        more = f" (+{len(findings) - 10} more)" if len(findings) > 10 else ""
        raise SecretRemains(f"refusing to save cassette {cassette.name}: secret patterns remain at "
                            f"{where}{more}. Redact them (or add the header to SECRET_HEADERS) "
                            f"and record again.")


def _walk(obj: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(k, f"{where}.<key>")
            yield from _walk(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        for n, v in enumerate(obj):
            yield from _walk(v, f"{where}[{n}]")
