"""One usage row and one inference row per request, as plain dicts in the DDL's column names.

Inputs are the ledger record (who, what, when, outcome; no token, only the identity) and
the captured bytes (what travelled). Column meanings and the choices behind them are in
docs/usage-tables.md; the column lists themselves are the DDL files
``fixtures/schemas/ai_gateway_{usage,inference}.sql``, and the recorder checks these dicts
against them when it builds the Arrow batch.

Secrets: headers come from the record's allow-list, the URL keeps only allow-listed query
parameters, and any token the gateway accepts is blanked out of the logged bodies (a client
that pasted its token into a prompt must not find it in a table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway_conformance.gateway.ledger import LedgerRecord
from gateway_conformance.gateway.usage.assemble import Tokens, event_count, final_response, reported_tokens
from gateway_conformance.gateway.usage.capture import Exchange

#: What each surface's generate route speaks (the usage table's ``api_type``).
API_TYPES = {"anthropic": "anthropic/messages", "openai": "openai/responses",
             "cursor": "openai/chat-completions", "gemini": "gemini/generate-content"}
SERVICE_TYPE = "FOUNDATION_MODEL"
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Rows:
    usage: dict[str, Any]
    inference: dict[str, Any]


def api_type(surface: str, endpoint: str) -> str:
    base = API_TYPES.get(surface, surface)
    return base if endpoint == "generate" else f"{base}:{endpoint}"


def _url(record: LedgerRecord) -> str:
    return record.path + (f"?{record.query}" if record.query else "")


def _text(data: bytes | None, secrets: Iterable[str]) -> str | None:
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


def build_rows(record: LedgerRecord, exchange: Exchange, *, secrets: Iterable[str] = (),
               workspace_id: str | None = None, upstream: str = "mock") -> Rows:
    """The two rows of one finished request."""
    secrets = tuple(secrets)
    raw = exchange.response.data()
    final = final_response(record.surface, raw, exchange.streamed) if raw is not None else None
    tokens = Tokens()
    if record.endpoint == "generate":
        tokens = reported_tokens(record.surface, final, record.status)
        if raw is None and 200 <= record.status < 300:  # too large to keep: the responder's own count
            tokens = Tokens(record.input_tokens, record.output_tokens,
                            record.input_tokens + record.output_tokens)
    when = datetime.fromtimestamp(record.started_at, UTC)
    routing = {"surface": record.surface, "upstream": upstream}
    if record.fault:
        routing["fault"] = record.fault
    common = {"event_time": when, "request_id": record.request_id, "invocation_id": record.invocation_id,
              "requester": record.identity, "endpoint_name": record.model, "api_type":
              api_type(record.surface, record.endpoint), "url": _url(record), "status_code": record.status,
              "streaming": record.stream, "time_to_first_byte_ms": _ms(record.first_byte_ms),
              "request_tags": dict(record.request_tags)}
    usage = {**common, "workspace_id": workspace_id, "service_name": record.surface,
             "routing_information": routing, "user_agent": record.user_agent,
             "service_type": SERVICE_TYPE if record.model else None,
             "destination_model": record.model if record.invocation_id else None,
             "input_tokens": tokens.input, "output_tokens": tokens.output, "total_tokens": tokens.total,
             "token_details": {"cache_read_input_tokens": tokens.cache_read,
                               "cache_creation_input_tokens": tokens.cache_creation,
                               "reasoning_tokens": tokens.reasoning},
             "agent": record.agent, "latency_ms": _ms(record.latency_ms), "error_type": record.error_kind}
    codes = []
    if exchange.request.overflow:
        codes.append("MAX_REQUEST_SIZE_EXCEEDED")
    if exchange.response.overflow:
        codes.append("MAX_RESPONSE_SIZE_EXCEEDED")
    if exchange.streamed:
        response = None if final is None else json.dumps(final, separators=(",", ":"))
        events = event_count(raw) if raw is not None else record.events
    else:
        response, events = _text(raw, ()), None
    headers = dict(record.headers)
    if record.user_agent:
        headers["user-agent"] = record.user_agent
    error = None if record.error_kind is None else {"type": record.error_kind,
                                                     "message": record.error_message}
    inference = {**common, "request": _text(exchange.request.data(), secrets), "request_headers": headers,
                 "response": _text(response.encode() if response is not None else None, secrets),
                 "stream_event_count": events, "execution_duration_ms": _ms(record.latency_ms),
                 "error": error, "logging_error_codes": codes}
    return Rows(usage, inference)
