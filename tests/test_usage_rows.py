"""Request tags, stream assembly, row building and the bounded ledger, without a server.

The end-to-end proof (official SDKs -> mock -> Delta tables) is conformance/test_usage_tables.py;
these pin the rules the docs state (docs/usage-tables.md) at the unit level, where a wrong
rule fails with a precise message.
"""

from __future__ import annotations

import json

import pytest

from gateway_conformance.gateway import anthropic, gemini, openai_chat, openai_responses
from gateway_conformance.gateway.ledger import Ledger, LedgerRecord
from gateway_conformance.gateway.turns import ChatRequest, GatewayError, Reply, ToolCall
from gateway_conformance.gateway.usage.assemble import event_count, final_response, reported_tokens
from gateway_conformance.gateway.usage.capture import Body, Exchange
from gateway_conformance.gateway.usage.rows import build_rows
from gateway_conformance.gateway.usage.tags import request_tags
from gateway_conformance.pytest_fixtures.usage import EMBEDDED_WAIT_SECONDS, UsageReader

DOCUMENTED = "databricks-ai-gateway-request-tags"
LEGACY = "x-databricks-request-tags"


@pytest.mark.parametrize(("headers", "tags"), [
    ({}, {}),
    ({DOCUMENTED: '{"project": "chatbot", "team": "ml"}'}, {"project": "chatbot", "team": "ml"}),
    ({DOCUMENTED: "{}"}, {}),
    ({LEGACY: "team=platform, ticket=GW-1"}, {"team": "platform", "ticket": "GW-1"}),
    ({LEGACY: '{"team": "ml"}'}, {"team": "ml"}),
    ({LEGACY: '{"team": "old", "x": "1"}', DOCUMENTED: '{"team": "new"}'}, {"team": "new", "x": "1"}),
])
def test_request_tags_accepted_forms(headers: dict[str, str], tags: dict[str, str]) -> None:
    assert request_tags(headers) == tags


@pytest.mark.parametrize(("headers", "why"), [
    ({DOCUMENTED: "team=platform"}, "not JSON"),
    ({DOCUMENTED: '["a"]'}, "JSON list, not an object"),
    ({DOCUMENTED: '{"cost": 5}'}, "is int, not a string"),
    ({DOCUMENTED: '{"": "x"}'}, "key is empty"),
    ({DOCUMENTED: json.dumps({f"k{i}": "v" for i in range(65)})}, "65 tags"),
    ({LEGACY: "just words"}, "neither a JSON object nor key=value pairs"),
])
def test_malformed_tags_are_a_400_that_says_why(headers: dict[str, str], why: str) -> None:
    with pytest.raises(GatewayError) as caught:
        request_tags(headers)
    assert caught.value.status == 400 and caught.value.kind == "invalid_request"
    assert why in caught.value.message and "JSON object of string values" in caught.value.message


def test_the_ledger_keeps_a_bounded_window_and_counts_everything() -> None:
    ledger = Ledger(max_records=3)
    for n in range(10):
        ledger.add(LedgerRecord(request_id=f"r{n}", started_at=0.0, surface="anthropic", endpoint="generate",
                                method="POST", path="/"))
    assert [r.request_id for r in ledger.records()] == ["r7", "r8", "r9"]
    assert (len(ledger), ledger.total) == (3, 10)


def test_a_body_over_the_limit_is_dropped_whole() -> None:
    body = Body(limit=10)
    body.add(b"12345")
    assert body.data() == b"12345"
    body.add(b"678901")
    assert body.data() is None and body.overflow and body.size == 11


REPLY = Reply(text="Hello there, table.", tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),),
              stop_reason="tool_use", input_tokens=12, output_tokens=7)
SURFACES = {"anthropic": anthropic, "openai": openai_responses, "cursor": openai_chat, "gemini": gemini}


def _request(surface: str) -> ChatRequest:
    raw = {"stream_options": {"include_usage": True}} if surface == "cursor" else {}
    return ChatRequest(surface=surface, model="databricks-claude-opus-4-6", stream=True, prompt="hi", raw=raw)


@pytest.mark.parametrize("surface", list(SURFACES))
def test_a_folded_stream_reports_the_same_tokens_and_content_as_the_json_body(surface: str) -> None:
    module, request = SURFACES[surface], _request(surface)
    raw = b"".join(module.render_stream(REPLY, request))
    folded = final_response(surface, raw, streamed=True)
    body = module.render_json(REPLY, request)
    assert reported_tokens(surface, folded, 200) == reported_tokens(surface, body, 200)
    tokens = reported_tokens(surface, folded, 200)
    assert (tokens.input, tokens.output) == (12, 7)
    text = json.dumps(folded)
    assert "Hello there, table." in text and "Paris" in text, f"{surface}: lost: {text[:400]}"
    assert event_count(raw) >= 3


def test_a_refusal_reports_no_tokens() -> None:
    assert reported_tokens("anthropic", {"usage": {"input_tokens": 5, "output_tokens": 1}}, 429).total == 0


def test_rows_never_hold_the_token_or_a_query_key() -> None:
    token = "gwc-secret-token-value"
    record = LedgerRecord(request_id="req_1", started_at=1.7e9, surface="gemini", endpoint="generate",
                          method="POST", path="/gemini/v1beta/models/m:generateContent", identity="alice",
                          model="m", status=200, query="alt=sse", invocation_id="inv_1",
                          headers={"x-goog-api-client": "genai"}, request_tags={"team": "a"})
    exchange = Exchange()
    exchange.request.add(json.dumps({"contents": [{"parts": [{"text": f"my key is {token}"}]}]}).encode())
    exchange.response.add(json.dumps(gemini.render_json(REPLY, _request("gemini"))).encode())
    exchange.content_type = "application/json"
    rows = build_rows(record, exchange, secrets=[token])
    everything = json.dumps([rows.usage, rows.inference], default=str)
    assert token not in everything and "[REDACTED]" in rows.inference["request"]
    assert rows.usage["url"] == "/gemini/v1beta/models/m:generateContent?alt=sse"
    usage = rows.usage
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (12, 7, 19)
    assert rows.usage["requester"] == "alice" and rows.inference["request_tags"] == {"team": "a"}


def _finished(n: int) -> tuple[LedgerRecord, Exchange]:
    record = LedgerRecord(request_id=f"req_{n}", started_at=1.7e9 + n, surface="anthropic",
                          endpoint="generate", method="POST", path="/anthropic/v1/messages",
                          identity="alice", status=200)
    exchange = Exchange()
    exchange.response.add(json.dumps(anthropic.render_json(REPLY, _request("anthropic"))).encode())
    exchange.content_type = "application/json"
    return record, exchange


def test_the_recorder_commits_on_its_own_in_groups(tmp_path) -> None:
    """Rows reach the tables within the interval without a flush, many requests per commit."""
    import time

    from gateway_conformance.gateway.usage.recorder import UsageRecorder, UsageTables
    from gateway_conformance.tables.delta import DeltaRsWriter

    writer = DeltaRsWriter(tmp_path)
    recorder = UsageRecorder(writer, UsageTables.for_prefix("c", "s", "p"), interval=0.3)
    try:
        for n in range(50):
            recorder.submit(*_finished(n))
        deadline = time.monotonic() + 30
        while recorder.commits < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = writer.read(recorder.tables.usage).to_pylist()
        assert len(rows) == 50, f"{len(rows)} of 50 rows committed without a flush within the interval"
        assert recorder.commits == 2, f"{recorder.commits} commits for 50 requests: expected one per table"
        assert {r["input_tokens"] for r in rows} == {12} and recorder.dropped == 0
    finally:
        recorder.close()
        writer.close()


def test_the_embedded_reader_waits_for_a_row_recorded_just_after_the_answer() -> None:
    """The mock records a stream once its end is sent, after the SDK already returned at
    ``[DONE]``: the first read can come too early (a CI run found 0 inference rows so)."""
    reads: list[str] = []

    def read(kind: str, tag: str) -> list[dict[str, str]]:
        reads.append(kind)
        return [{"tag": tag}] if len(reads) >= 3 else []

    reader = UsageReader(read, requester=None, wait=EMBEDDED_WAIT_SECONDS, embedded=True)  # type: ignore[arg-type]
    assert reader.rows("inference", "t", 1) == [{"tag": "t"}]
    assert len(reads) == 3
    reads.clear()
    assert reader.rows("usage", "t", 0) == [] and len(reads) == 1  # nothing expected: no wait
