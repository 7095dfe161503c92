"""The official ``google-genai`` SDK against ``/gemini``, configured the way Gemini CLI is.

Gemini CLI with ``GEMINI_API_KEY_AUTH_MECHANISM=bearer`` hands its key to the SDK *and*
adds ``Authorization: Bearer <key>`` to the SDK's headers; the clients here are built the
same way, and the target profile's ``auth`` for the surface decides the form the token goes
out in (``bearer`` by default; :mod:`gateway_conformance.sdk_http`). The SDK then judges
the mock: it parses each SSE chunk into its strict (``extra='forbid'``) types, runs its own
automatic function calling, and raises ``errors.ClientError``/``ServerError`` from the
Google error envelope. google-genai ignores ``Retry-After``; Gemini CLI reads
``google.rpc.RetryInfo`` from the error details instead, so a 429 must carry both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors
from google.genai import types as gt

from gateway_conformance.gateway.faults import FaultQueue
from gateway_conformance.gateway.ledger import Ledger
from gateway_conformance.gateway.policy import Policy
from gateway_conformance.gateway.responders import ScriptedResponder
from gateway_conformance.sdk_http import PLACEHOLDER
from gateway_conformance.target import Target

WEATHER = gt.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]})


ClientFactory = Callable[..., genai.Client]


@pytest.fixture
def client_for(gwc_gateway_urls: dict[str, str], gwc_sdk_transport) -> ClientFactory:
    """``client_for(api_key=..., retry=...)``: a client as Gemini CLI builds it with the bearer
    mechanism (api key and bearer header); a given ``api_key`` is sent as it is."""
    def make(*, api_key: str | None = None, retry: gt.HttpRetryOptions | None = None) -> genai.Client:
        return genai.Client(api_key=api_key or PLACEHOLDER, http_options=gt.HttpOptions(
            base_url=gwc_gateway_urls["gemini"], api_version="v1beta",
            headers={"Authorization": f"Bearer {PLACEHOLDER}"}, retry_options=retry, timeout=20_000,
            client_args={"transport": gwc_sdk_transport(httpx2, "gemini")}))
    return make


@pytest.fixture
def model(gwc_target: Target) -> str:
    """Gemini CLI's model on this target (``--model gemini-cli=...`` or the profile's)."""
    return gwc_target.model("gemini-cli")


@pytest.fixture
def client(client_for: ClientFactory) -> Iterator[genai.Client]:
    with client_for() as c:
        yield c


def get_weather(city: str) -> dict[str, Any]:
    """Weather for a city (a Python tool the SDK's automatic function calling runs itself)."""
    return {"city": city, "forecast": "sunny, 21 C"}


@pytest.mark.gwc_check("gemini.sdk.generate")
def test_generate_content_text(model: str, client: genai.Client) -> None:
    response = client.models.generate_content(model=model, contents="Say hello")
    assert response.text
    (candidate,) = response.candidates
    assert candidate.finish_reason == gt.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


@pytest.mark.gwc_check("gemini.auth.bearer-is-the-credential")
def test_bearer_is_the_credential(model: str, client_for: ClientFactory, gwc_target: Target) -> None:
    """The gateway authenticates the bearer: a junk ``x-goog-api-key`` beside it changes nothing."""
    auth = gwc_target.surface("gemini").auth
    if auth != "bearer":
        pytest.skip(f"the target profile sends the Gemini token as {auth}, not as a bearer")
    with client_for(api_key="not-the-credential") as c:
        assert c.models.generate_content(model=model, contents="hello").text


@pytest.mark.gwc_check("gemini.stream.chunks-assembled")
@pytest.mark.gwc_mock_only
def test_stream_text(model: str, client: genai.Client, gwc_gateway_script: ScriptedResponder) -> None:
    text = "Gemini CLI reads this chunk by chunk."
    gwc_gateway_script.text(text, input_tokens=17, output_tokens=9)
    chunks = list(client.models.generate_content_stream(model=model, contents="stream please"))
    assert len(chunks) > 1
    assert "".join(chunk.text or "" for chunk in chunks) == text
    finishes = [chunk.candidates[0].finish_reason for chunk in chunks]
    assert finishes[-1] == gt.FinishReason.STOP and set(finishes[:-1]) == {None}
    usage = chunks[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (17, 9, 26)


@pytest.mark.gwc_check("gemini.stream.function-call")
@pytest.mark.gwc_mock_only
def test_streamed_function_call(model: str, client: genai.Client,
                                gwc_gateway_script: ScriptedResponder) -> None:
    call = gwc_gateway_script.tool_call("get_weather", {"city": "Prague"})
    config = gt.GenerateContentConfig(tools=[gt.Tool(function_declarations=[WEATHER])])
    chunks = list(client.models.generate_content_stream(model=model, contents="Weather?", config=config))
    calls = [fc for chunk in chunks for fc in chunk.function_calls or []]
    assert [(fc.id, fc.name, fc.args) for fc in calls] == [(call.id, "get_weather", {"city": "Prague"})]
    assert chunks[-1].candidates[0].finish_reason == gt.FinishReason.STOP


@pytest.mark.gwc_check("gemini.sdk.automatic-function-calling")
@pytest.mark.gwc_mock_only
def test_chat_stream_runs_the_tool_automatically(model: str, client: genai.Client,
                                                 gwc_gateway_script: ScriptedResponder,
                                                gwc_gateway_ledger: Ledger) -> None:
    """The SDK's automatic function calling: it runs ``get_weather`` on the streamed call and sends
    the ``functionResponse`` back; the second turn's answer (the default responder reads tool
    results) must contain what the tool returned."""
    gwc_gateway_script.tool_call("get_weather", {"city": "Prague"})
    chat = client.chats.create(model=model, config=gt.GenerateContentConfig(tools=[get_weather]))
    text = "".join(chunk.text or "" for chunk in chat.send_message_stream("Weather in Prague?"))
    assert "sunny, 21 C" in text
    generates = [r for r in gwc_gateway_ledger.to_json() if r["endpoint"] == "generate"]
    assert [(r["stream"], r["status"]) for r in generates] == [(True, 200), (True, 200)]
    history = chat.get_history()
    roles = [content.role for content in history]
    assert roles[:3] == ["user", "model", "user"] and set(roles[3:]) == {"model"}
    assert history[1].parts[0].function_call.name == "get_weather"
    assert history[2].parts[0].function_response.response == {"result": get_weather("Prague")}


@pytest.mark.gwc_check("gemini.count-tokens.matches-usage")
def test_count_tokens_matches_generate(model: str, client: genai.Client) -> None:
    contents = "How many tokens is this sentence, exactly?"
    counted = client.models.count_tokens(model=model, contents=contents)
    generated = client.models.generate_content(model=model, contents=contents)
    assert counted.total_tokens > 0
    assert counted.total_tokens == generated.usage_metadata.prompt_token_count


@pytest.mark.gwc_check("gemini.models.supported-actions")
def test_models_listing(model: str, client: genai.Client) -> None:
    models = list(client.models.list())
    names = [m.name for m in models]
    assert f"models/{model}" in names
    listed = next(m for m in models if m.name == f"models/{model}")
    assert "generateContent" in (listed.supported_actions or [])


# --- typed errors ------------------------------------------------------------------------------


def raises_client_error(client: genai.Client, code: int, status: str, *, model: str) -> errors.ClientError:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=model, contents="ping")
    assert (caught.value.code, caught.value.status) == (code, status)
    return caught.value


@pytest.mark.gwc_check("gemini.errors.invalid-argument")
def test_400_bad_request(model: str, client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=model, contents="x",
                                       config=gt.GenerateContentConfig(max_output_tokens=-1))
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")


@pytest.mark.gwc_check("gemini.limits.retry-info")
@pytest.mark.gwc_mock_only
def test_429_quota_carries_retry_info(model: str, client: genai.Client, gwc_gateway_policy: Policy) -> None:
    gwc_gateway_policy.set_limits(qpm=1)
    client.models.generate_content(model=model, contents="first")
    error = raises_client_error(client, 429, "RESOURCE_EXHAUSTED", model=model)
    (retry_info,) = [d for d in error.details["error"]["details"]
                     if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"]
    delay = float(retry_info["retryDelay"].removesuffix("s"))
    assert delay >= 1
    assert int(error.response.headers["retry-after"]) == round(delay)


@pytest.mark.gwc_check("gemini.limits.sdk-retry-succeeds")
@pytest.mark.gwc_mock_only
def test_429_then_the_sdk_retry_succeeds(model: str, client_for: ClientFactory,
                                         gwc_gateway_faults: FaultQueue, gwc_gateway_ledger: Ledger) -> None:
    """The SDK's retry (429 is retryable for it) gets through once the limit clears."""
    gwc_gateway_faults.inject(status=429, retry_after=1, surface="gemini")
    retry = gt.HttpRetryOptions(attempts=2, initial_delay=0.05, max_delay=0.1, jitter=0,
                                http_status_codes=[429])
    with client_for(retry=retry) as c:
        assert c.models.generate_content(model=model, contents="ping").text
    assert [r["status"] for r in gwc_gateway_ledger.to_json() if r["endpoint"] == "generate"] == [429, 200]


@pytest.mark.gwc_check("gemini.errors.server-status-names")
@pytest.mark.gwc_mock_only
@pytest.mark.parametrize(("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_upstream_failure_is_server_error(model: str, client: genai.Client, gwc_gateway_faults: FaultQueue,
                                          status: int, name: str) -> None:
    gwc_gateway_faults.inject(status=status, surface="gemini")
    with pytest.raises(errors.ServerError) as caught:
        client.models.generate_content(model=model, contents="ping")
    assert (caught.value.code, caught.value.status) == (status, name)


