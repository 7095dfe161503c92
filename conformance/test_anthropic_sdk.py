"""The official ``anthropic`` SDK as the judge of the ``/anthropic`` surface (what Claude Code speaks).

Every check goes through the SDK's own parsing, stream accumulation and typed errors; tests
that queue replies, faults or read the ledger are ``gwc_mock_only``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anthropic
import httpx2
import pytest

from gateway_conformance.sdk_http import PLACEHOLDER
from gateway_conformance.secret import Secret
from gateway_conformance.target import Target

PROMPT = [{"role": "user", "content": "Say something about gateways, please."}]

ClientFactory = Callable[..., anthropic.Anthropic]


@pytest.fixture
def model(gwc_target: Target) -> str:
    """Claude Code's model on this target (``--model claude-code=...`` or the profile's)."""
    return gwc_target.model("claude-code")


@pytest.fixture
def client_for(gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret,
               gwc_sdk_transport) -> ClientFactory:
    """The SDK as Claude Code uses it; the token goes out in the target's form for the surface."""
    def make(token: Secret | str | None = gwc_gateway_token, max_retries: int = 0,
             headers: Mapping[str, str] | None = None) -> anthropic.Anthropic:
        transport = gwc_sdk_transport(httpx2, "anthropic", token)
        return anthropic.Anthropic(base_url=gwc_gateway_urls["anthropic"], auth_token=PLACEHOLDER,
                                   max_retries=max_retries, timeout=30, default_headers=headers,
                                   http_client=httpx2.Client(transport=transport))
    return make


@pytest.fixture
def client(client_for: ClientFactory) -> anthropic.Anthropic:
    return client_for()


@pytest.mark.gwc_check("anthropic.sdk.message")
def test_plain_text(model: str, client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=model, max_tokens=256, messages=PROMPT)
    assert message.type == "message" and message.role == "assistant"
    assert message.model == model
    assert message.content and message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.gwc_check("anthropic.messages.beta-query")
def test_beta_query_is_accepted(model: str, client: anthropic.Anthropic) -> None:
    """Claude Code posts to ``/v1/messages?beta=true``; the SDK's beta client does the same."""
    message = client.beta.messages.create(model=model, max_tokens=64, messages=PROMPT,
                                          betas=["interleaved-thinking-2025-05-14"])
    assert message.content[0].type == "text"


@pytest.mark.gwc_check("anthropic.stream.event-order-and-usage")
def test_streamed_text_event_grammar(model: str, client: anthropic.Anthropic) -> None:
    with client.messages.create(model=model, max_tokens=256, messages=PROMPT, stream=True) as stream:
        events = list(stream)
    types = [e.type for e in events if e.type != "ping"]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert types[-2] == "message_delta"
    opened = [e.index for e in events if e.type == "content_block_start"]
    stopped = [e.index for e in events if e.type == "content_block_stop"]
    assert opened and opened == stopped
    start = events[0].message.usage
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.output_tokens >= 1
    if delta.usage.input_tokens is not None:  # when both carry input tokens they must agree
        assert delta.usage.input_tokens == start.input_tokens


@pytest.mark.gwc_check("anthropic.sdk.stream-assembled")
def test_streamed_text_assembled_by_sdk(model: str, client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=model, max_tokens=256, messages=PROMPT) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1, "a streamed answer should arrive in several deltas"
    assert "".join(pieces) == final.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.gwc_check("anthropic.sdk.tool-call-assembled")
@pytest.mark.gwc_mock_only
def test_streamed_tool_call_assembled_by_sdk(model: str, client: anthropic.Anthropic,
                                             gwc_gateway_script) -> None:
    arguments = {"city": "Prague", "days": [1, 2, 3], "units": {"temperature": "celsius"}}
    call = gwc_gateway_script.tool_call("get_weather", arguments, text="Let me check.")
    tools = [{"name": "get_weather", "description": "weather",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    with client.messages.stream(model=model, max_tokens=256, messages=PROMPT, tools=tools) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    text, tool = final.content
    assert text.type == "text" and text.text == "Let me check."
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == (call.id, "get_weather", arguments)


@pytest.mark.gwc_check("anthropic.messages.tool-result-round-trip")
@pytest.mark.gwc_mock_only
def test_tool_result_round_trip(model: str, client: anthropic.Anthropic, gwc_gateway_script) -> None:
    call = gwc_gateway_script.tool_call("get_weather", {"city": "Brno"})
    first = client.messages.create(model=model, max_tokens=64, messages=PROMPT)
    tool = first.content[-1]
    follow_up = [*PROMPT, {"role": "assistant", "content": [tool.model_dump(exclude_none=True)]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": "sunny, 21 C"}]}]
    second = client.messages.create(model=model, max_tokens=64, messages=follow_up)
    assert "sunny, 21 C" in second.content[0].text


@pytest.mark.gwc_check("anthropic.count-tokens.matches-usage")
@pytest.mark.gwc_mock_only
def test_count_tokens_matches_usage(model: str, client: anthropic.Anthropic, gwc_gateway) -> None:
    counted = client.messages.count_tokens(model=model, messages=PROMPT)
    message = client.messages.create(model=model, max_tokens=64, messages=PROMPT)
    assert counted.input_tokens == message.usage.input_tokens


@pytest.mark.gwc_check("anthropic.models.page-fields")
def test_models_list(model: str, client: anthropic.Anthropic) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert model in ids
    assert page.first_id == ids[0] and page.last_id == ids[-1]
    assert all(m.type == "model" for m in page.data)


@pytest.mark.gwc_check("anthropic.errors.invalid-request")
def test_invalid_body_is_bad_request(model: str, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=model, max_tokens=16, messages=[])
    assert info.value.body["error"]["type"] == "invalid_request_error"


@pytest.mark.gwc_check("anthropic.limits.sdk-waits-retry-after")
@pytest.mark.gwc_mock_only
def test_rate_limit_retry_after_honoured(model: str, client_for: ClientFactory, gwc_gateway_policy,
                                         gwc_gateway_clock,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """QPM=1: the second call gets 429 + Retry-After; the SDK waits that long (on the mock's
    clock, so the test never sleeps) and its single retry succeeds."""
    gwc_gateway_policy.set_limits(qpm=1)
    no_retry = client_for()
    no_retry.messages.create(model=model, max_tokens=16, messages=PROMPT)
    with pytest.raises(anthropic.RateLimitError) as info:
        no_retry.messages.create(model=model, max_tokens=16, messages=PROMPT)
    retry_after = int(info.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert info.value.body["error"]["type"] == "rate_limit_error"

    retrying = client_for(max_retries=1)
    computed = retrying._calculate_retry_timeout
    waits: list[float] = []

    def wait_on_gateway_clock(*args, **kwargs) -> float:
        seconds = computed(*args, **kwargs)
        waits.append(seconds)
        gwc_gateway_clock.advance(seconds)
        return 0.0

    monkeypatch.setattr(retrying, "_calculate_retry_timeout", wait_on_gateway_clock)
    message = retrying.messages.create(model=model, max_tokens=16, messages=PROMPT)
    assert message.content[0].text
    assert waits == [retry_after]


@pytest.mark.gwc_check("anthropic.errors.overloaded-retryable")
@pytest.mark.gwc_mock_only
def test_overloaded_fault_retried_once(model: str, client_for: ClientFactory, gwc_gateway_faults,
                                       gwc_gateway_ledger,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    gwc_gateway_faults.inject(status=529, retry_after=1)
    with pytest.raises(anthropic.OverloadedError):
        client_for().messages.create(model=model, max_tokens=16, messages=PROMPT)
    gwc_gateway_faults.inject(status=529, retry_after=1)
    retrying = client_for(max_retries=1)
    monkeypatch.setattr(retrying, "_calculate_retry_timeout", lambda *a, **k: 0.0)
    assert retrying.messages.create(model=model, max_tokens=16, messages=PROMPT).content
    assert [r.status for r in gwc_gateway_ledger.records()] == [529, 529, 200]


@pytest.mark.gwc_check("anthropic.usage.claude-code-headers-recorded")
@pytest.mark.gwc_mock_only
def test_ledger_records_claude_code_headers(model: str, client_for: ClientFactory, gwc_gateway_token,
                                            gwc_gateway_ledger) -> None:
    headers = {"x-databricks-use-coding-agent-mode": "true", "X-Claude-Code-Session-Id": "session-42",
               "anthropic-beta": "fine-grained-tool-streaming-2025-05-14",
               "x-databricks-request-tags": "team=platform,ticket=GW-1",
               "User-Agent": "claude-cli/2.1.197 (external, cli)"}
    message = client_for(headers=headers).messages.create(model=model, max_tokens=64, messages=PROMPT)
    (record,) = gwc_gateway_ledger.records()
    assert record.identity == "conformance" and record.surface == "anthropic"
    assert record.agent == "claude-code"
    assert record.session_id == "session-42"
    assert record.headers["x-databricks-use-coding-agent-mode"] == "true"
    assert record.headers["anthropic-beta"] == "fine-grained-tool-streaming-2025-05-14"
    assert record.headers["anthropic-version"]  # the SDK always sends one; its value moves with releases
    assert record.request_tags == {"team": "platform", "ticket": "GW-1"}
    assert (record.input_tokens, record.output_tokens) == (message.usage.input_tokens,
                                                           message.usage.output_tokens)
    assert record.status == 200 and record.model == model
    assert gwc_gateway_token.reveal() not in str(record.to_dict())
