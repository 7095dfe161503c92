"""The official ``openai`` SDK against ``/openai/v1`` (Responses, Codex) and ``/cursor/v1`` (Chat, Cursor).

The SDK is the judge: its stream helpers assemble text and function calls from the events,
its typed exceptions must come out of the gateway's error envelopes, and its retry logic
must find a ``Retry-After`` it can honour. Tests that steer the mock (scripted turns,
faults, limits, the ledger) are ``gwc_mock_only``; the rest run against any gateway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.responses import ResponseTextDeltaEvent

from gateway_conformance.gateway.faults import FaultQueue
from gateway_conformance.gateway.ledger import Ledger
from gateway_conformance.gateway.responders import ScriptedResponder
from gateway_conformance.roster import documented_agent
from gateway_conformance.sdk_http import PLACEHOLDER
from gateway_conformance.target import Target

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}
CHAT_WEATHER_TOOL = {"type": "function",
                     "function": {k: v for k, v in WEATHER_TOOL.items() if k != "type"}}
SURFACE_OF = {"responses": "openai", "chat": "cursor"}


ClientFactory = Callable[..., openai.OpenAI]


@pytest.fixture
def client_for(gwc_gateway_urls: dict[str, str], gwc_sdk_transport) -> ClientFactory:
    """``client_for(surface)``: the SDK on one surface; the token goes out in the target's form."""
    def make(surface: str, max_retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=gwc_gateway_urls[surface], api_key=PLACEHOLDER, max_retries=max_retries,
                             timeout=20, http_client=httpx2.Client(transport=gwc_sdk_transport(httpx2,
                                                                                               surface)))
    return make


@pytest.fixture
def model(request: pytest.FixtureRequest, gwc_target: Target) -> str:
    """The model of the agent speaking the test's API: Codex (Responses) or Cursor (Chat)."""
    names = request.fixturenames
    api = request.getfixturevalue("api") if "api" in names else "chat" if "chat" in names else "responses"
    return gwc_target.model(documented_agent(SURFACE_OF[api]))


@pytest.fixture
def responses(client_for: ClientFactory) -> Iterator[openai.OpenAI]:
    with client_for("openai") as c:
        yield c


@pytest.fixture
def chat(client_for: ClientFactory) -> Iterator[openai.OpenAI]:
    with client_for("cursor") as c:
        yield c


def generate(api: str, c: openai.OpenAI, *, model: str, **options: Any) -> Any:
    """One small non-streamed turn on either API: what the error tests provoke."""
    if api == "responses":
        return c.responses.create(model=model, input="ping", **options)
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}], **options)



# --- Responses (Codex) -------------------------------------------------------------------------


@pytest.mark.gwc_check("openai.sdk.response")
def test_responses_text(model: str, responses: openai.OpenAI) -> None:
    response = responses.responses.create(model=model, input="Say hello", instructions="Be brief.")
    assert response.status == "completed"
    assert response.model == model
    assert response.output_text
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


@pytest.mark.gwc_check("openai.stream.typed-events-assembled")
@pytest.mark.gwc_mock_only
def test_responses_stream_text(model: str, responses: openai.OpenAI,
                               gwc_gateway_script: ScriptedResponder) -> None:
    text = "Streaming reaches Codex one word at a time."
    gwc_gateway_script.text(text, input_tokens=21, output_tokens=9)
    with responses.responses.stream(model=model, input="stream please") as stream:
        kinds, deltas = [], []
        for event in stream:
            kinds.append(event.type)
            if isinstance(event, ResponseTextDeltaEvent):
                deltas.append(event.delta)
                assert event.snapshot == "".join(deltas)  # the helper's running accumulation
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert "response.output_item.done" in kinds
    assert len(deltas) > 1 and "".join(deltas) == text
    assert final.output_text == text
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == (21, 9, 30)


@pytest.mark.gwc_check("openai.sdk.function-call-round-trip")
@pytest.mark.gwc_mock_only
def test_responses_streamed_function_call_round_trip(model: str, responses: openai.OpenAI,
                                                     gwc_gateway_script: ScriptedResponder) -> None:
    call = gwc_gateway_script.tool_call("get_weather", {"city": "Prague", "days": [1, 2]})
    with responses.responses.stream(model=model, input="Weather in Prague?", tools=[WEATHER_TOOL]) as s:
        argument_deltas = [e.delta for e in s if e.type == "response.function_call_arguments.delta"]
        final = s.get_final_response()
    (item,) = final.output
    assert item.type == "function_call"
    assert (item.call_id, item.name) == (call.id, "get_weather")
    assert json.loads(item.arguments) == {"city": "Prague", "days": [1, 2]}
    assert "".join(argument_deltas) == item.arguments

    # Codex keeps no server state: it resends the call and its output in `input`.
    follow_up = responses.responses.create(model=model, tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "Weather in Prague?"},
        {"type": "function_call", "call_id": item.call_id, "name": item.name, "arguments": item.arguments},
        {"type": "function_call_output", "call_id": item.call_id, "output": "sunny, 21 C"},
    ])
    assert "sunny, 21 C" in follow_up.output_text  # the default responder reads the tool result


# --- Chat Completions (Cursor) -----------------------------------------------------------------


@pytest.mark.gwc_check("cursor.sdk.completion")
def test_chat_text(model: str, chat: openai.OpenAI) -> None:
    completion = chat.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}])
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant" and choice.message.content
    assert completion.usage is not None
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.gwc_check("cursor.stream.usage-chunk")
@pytest.mark.gwc_mock_only
def test_chat_stream_text_with_usage(model: str, chat: openai.OpenAI,
                                     gwc_gateway_script: ScriptedResponder) -> None:
    text = "Cursor gets its answer in pieces."
    gwc_gateway_script.text(text, input_tokens=13, output_tokens=8)
    with chat.chat.completions.stream(model=model, messages=[{"role": "user", "content": "go"}],
                                      stream_options={"include_usage": True}) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(deltas) > 1 and "".join(deltas) == text
    assert final.choices[0].message.content == text
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (13, 8, 21)


@pytest.mark.gwc_check("cursor.sdk.tool-call-round-trip")
@pytest.mark.gwc_mock_only
def test_chat_streamed_tool_call_round_trip(model: str, chat: openai.OpenAI,
                                            gwc_gateway_script: ScriptedResponder) -> None:
    call = gwc_gateway_script.tool_call("get_weather", {"city": "Brno"}, text="Let me check.")
    messages: list[Any] = [{"role": "user", "content": "Weather in Brno?"}]
    with chat.chat.completions.stream(model=model, messages=messages, tools=[CHAT_WEATHER_TOOL]) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me check."
    (tool_call,) = message.tool_calls
    assert (tool_call.id, tool_call.function.name) == (call.id, "get_weather")
    assert json.loads(tool_call.function.arguments) == {"city": "Brno"}
    assert [(e.name, e.parsed_arguments) for e in done] == [("get_weather", None)]  # non-strict tool

    messages += [message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": tool_call.id, "content": "rain, 9 C"}]
    follow_up = chat.chat.completions.create(model=model, messages=messages, tools=[CHAT_WEATHER_TOOL])
    assert "rain, 9 C" in (follow_up.choices[0].message.content or "")


# --- both surfaces: models, errors, retries --------------------------------


# Each case is filed under the surface (and so the agents) speaking its API.
@pytest.fixture(params=[pytest.param("responses", marks=pytest.mark.gwc_check(surface="openai")),
                        pytest.param("chat", marks=pytest.mark.gwc_check(surface="cursor"))])
def api(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def api_client(api: str, client_for: ClientFactory) -> ClientFactory:
    """``api_client(max_retries=...)``: the SDK on the surface of the parametrized API."""
    return lambda max_retries=0: client_for(SURFACE_OF[api], max_retries)


@pytest.mark.gwc_check("openai.models.unique-ids")
def test_models_listing(model: str, api_client: ClientFactory) -> None:
    with api_client() as c:
        ids = [model.id for model in c.models.list()]
    assert model in ids
    assert len(ids) == len(set(ids))


@pytest.mark.gwc_check("openai.errors.param-named")
def test_400_bad_request_names_the_parameter(model: str, api_client: ClientFactory, api: str) -> None:
    with api_client() as c, pytest.raises(openai.BadRequestError) as caught:
        if api == "responses":
            c.responses.create(model=model, input="x", max_output_tokens=-5)
        else:
            c.chat.completions.create(model=model, messages=[], max_tokens=5)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body.get("param") in ("max_output_tokens", "messages")


@pytest.mark.gwc_check("openai.limits.sdk-waits-retry-after")
@pytest.mark.gwc_mock_only
def test_429_retry_after_is_honoured(model: str, api: str, api_client: ClientFactory,
                                     gwc_gateway_faults: FaultQueue, gwc_gateway_ledger: Ledger) -> None:
    """One 429 with ``Retry-After: 1``; the SDK (one retry allowed) waits it out and succeeds.

    The SDK's own backoff for a first retry is at most 0.5 s, so a gap of at least the
    advertised second between the two attempts shows the header, not the default, set it.
    """
    gwc_gateway_faults.inject(status=429, retry_after=1, surface=SURFACE_OF[api])
    with api_client(max_retries=1) as c:
        generate(api, c, model=model)
    records = [r for r in gwc_gateway_ledger.to_json() if r["endpoint"] == "generate"]
    assert [r["status"] for r in records] == [429, 200]
    assert records[1]["started_at"] - records[0]["started_at"] >= 0.95


