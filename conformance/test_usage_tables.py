"""Usage tracking and inference tables, judged by the official SDKs' own view of each request.

Requirement (issue 13; Databricks "Usage tracking" and "Request tagging" pages, SPEC.md section 6):
every request through the gateway leaves exactly one row in the usage table, with the token
counts the response reported, the identity behind the token (never the token) and the
``Databricks-Ai-Gateway-Request-Tags`` it carried; and one row in the inference table whose
response is what the client assembled (for a stream: the final response plus the event count).
Refused requests (401/403/429) are rows too, with their status and zero tokens.

Each check tags its requests with a fresh value and finds its rows by that tag, so the same
checks read the mock's tables and, with ``--spark-remote``, a workspace's (skipped without).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gt

from gateway_conformance import surfaces
from gateway_conformance.gateway.policy import Policy
from gateway_conformance.gateway.usage.tags import REQUEST_TAGS_HEADER
from gateway_conformance.pytest_fixtures.gateway import IDENTITY, RESTRICTED_IDENTITY
from gateway_conformance.pytest_fixtures.usage import CHECK_TAG, UsageReader
from gateway_conformance.secret import Secret, reveal

TAGS_HEADER = "Databricks-Ai-Gateway-Request-Tags"
MODELS = {"anthropic": "databricks-claude-opus-4-6", "openai": "databricks-gpt-5-2",
          "cursor": "databricks-gpt-5-mini", "gemini": "databricks-gemini-2-5-flash"}
PROMPT = "Say something about usage tables, please."
BAD_TOKEN = "gwc-usage-not-a-token"


def _clean(value: Any) -> Any:
    """JSON without nulls: SDK models dump every optional field, the wire omits or nulls them."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _gemini_view(body: dict[str, Any]) -> dict[str, Any]:
    """What a google-genai caller ends up with: the joined text, finish reason and usage."""
    candidate = (body.get("candidates") or [{}])[0]
    parts = (candidate.get("content") or {}).get("parts") or []
    return {"text": "".join(p.get("text", "") for p in parts if "text" in p),
            "finishReason": candidate.get("finishReason"), "usageMetadata": _clean(body.get("usageMetadata"))}


@dataclass
class Sent:
    """One request as the SDK saw it: the usage it reported and the response it assembled
    (in the form :func:`view` gives a logged response, so the two compare directly)."""

    input_tokens: int
    output_tokens: int
    assembled: dict[str, Any]
    cache_read: int | None = None


def view(surface: str, response: dict[str, Any]) -> dict[str, Any]:
    return _gemini_view(response) if surface == "gemini" else _clean(response)


# ----- one request per surface and mode, through the official SDK ---------------------------------

Send = Callable[[str, str, dict[str, str]], Sent]


def _assembled(stream: bool, api: Any, final: Callable[[Any], Any], args: dict[str, Any],
               **stream_only: Any) -> Any:
    """What the SDK assembled: its stream helper's ``final`` object, or the plain call's answer."""
    if stream:
        with api.stream(**args, **stream_only) as events:
            return final(events)
    return api.create(**args)


def _gemini_client(url: str, token: str, headers: dict[str, str]) -> genai.Client:
    """google-genai pointed at the gateway: the token as a bearer header, with the check's headers."""
    options = gt.HttpOptions(base_url=url, api_version="v1beta", timeout=30_000,
                             headers={"Authorization": f"Bearer {token}", **headers})
    return genai.Client(api_key=token, http_options=options)


def _anthropic(stream: bool) -> Send:
    def send(url: str, token: str, headers: dict[str, str]) -> Sent:
        client = anthropic.Anthropic(base_url=url, auth_token=token, max_retries=0, timeout=30)
        args = {"model": MODELS["anthropic"], "max_tokens": 128, "extra_headers": headers,
                "messages": [{"role": "user", "content": PROMPT}]}
        message = _assembled(stream, client.messages, lambda events: events.get_final_message(), args)
        usage = message.usage
        return Sent(usage.input_tokens, usage.output_tokens, _clean(message.model_dump(mode="json")),
                    usage.cache_read_input_tokens)
    return send


def _responses(stream: bool) -> Send:
    def send(url: str, token: str, headers: dict[str, str]) -> Sent:
        client = openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=30)
        args = {"model": MODELS["openai"], "input": PROMPT, "extra_headers": headers}
        response = _assembled(stream, client.responses, lambda events: events.get_final_response(), args)
        usage = response.usage
        assert usage is not None, "the Responses API must report usage"
        return Sent(usage.input_tokens, usage.output_tokens, _clean(response.model_dump(mode="json")),
                    usage.input_tokens_details.cached_tokens)
    return send


def _chat(stream: bool) -> Send:
    def send(url: str, token: str, headers: dict[str, str]) -> Sent:
        client = openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=30)
        args = {"model": MODELS["cursor"], "messages": [{"role": "user", "content": PROMPT}],
                "extra_headers": headers}
        completion = _assembled(stream, client.chat.completions, lambda events: events.get_final_completion(),
                                args, stream_options={"include_usage": True})
        usage = completion.usage
        assert usage is not None, "chat completions must report usage (include_usage on a stream)"
        dumped = completion.model_dump(mode="json")
        for choice in dumped["choices"]:  # the SDK's parse helper adds `parsed`; not on the wire
            choice["message"].pop("parsed", None)
        details = usage.prompt_tokens_details
        return Sent(usage.prompt_tokens, usage.completion_tokens, _clean(dumped),
                    details.cached_tokens if details else None)
    return send


def _gemini(stream: bool) -> Send:
    def send(url: str, token: str, headers: dict[str, str]) -> Sent:
        with _gemini_client(url, token, headers) as client:
            if stream:
                chunks = list(client.models.generate_content_stream(model=MODELS["gemini"], contents=PROMPT))
            else:
                chunks = [client.models.generate_content(model=MODELS["gemini"], contents=PROMPT)]
        last = chunks[-1]
        usage = last.usage_metadata
        assert usage is not None, "the last Gemini chunk must carry usageMetadata"
        assembled = {"text": "".join(c.text or "" for c in chunks),
                     "finishReason": last.candidates[0].finish_reason.value,
                     "usageMetadata": _clean(usage.model_dump(mode="json", by_alias=True))}
        return Sent(usage.prompt_token_count or 0, usage.candidates_token_count or 0, assembled,
                    usage.cached_content_token_count)
    return send


SENDERS: dict[str, Callable[[bool], Send]] = {"anthropic": _anthropic, "openai": _responses,
                                              "cursor": _chat, "gemini": _gemini}
CASES = [pytest.param(surface, stream, id=f"{surface}-{'stream' if stream else 'json'}")
         for surface in SENDERS for stream in (False, True)]


def _one(rows: list[dict[str, Any]], table: str, what: str) -> dict[str, Any]:
    assert len(rows) == 1, (f"{table}: expected exactly one row for {what}, found {len(rows)} "
                            f"(request ids {[r.get('request_id') for r in rows]})")
    return rows[0]


@pytest.fixture
def expected_requester(gwc_usage_reader: UsageReader) -> str | None:
    """The identity the check's token maps to (the mock's fixture identity; --requester outside)."""
    return IDENTITY if gwc_usage_reader.embedded else gwc_usage_reader.requester


@pytest.mark.gwc_check("gateway.usage-table.one-row-per-request")
@pytest.mark.parametrize(("surface", "stream"), CASES)
def test_each_request_is_one_usage_row_with_reported_tokens_requester_and_tags(
        surface: str, stream: bool, gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret,
        gwc_usage_reader: UsageReader, gwc_usage_tag: dict[str, str], expected_requester: str | None) -> None:
    headers = {TAGS_HEADER: json.dumps(gwc_usage_tag)}
    sent = SENDERS[surface](stream)(gwc_gateway_urls[surface], reveal(gwc_gateway_token), headers)
    what = f"one {'streamed' if stream else 'JSON'} {surface} request tagged {gwc_usage_tag}"
    row = _one(gwc_usage_reader.rows("usage", gwc_usage_tag[CHECK_TAG], 1), "usage table", what)
    assert row["status_code"] == 200, f"usage row of {what}: status_code {row['status_code']}, expected 200"
    assert (row["input_tokens"], row["output_tokens"]) == (sent.input_tokens, sent.output_tokens), (
        f"usage row of {what}: tokens in/out {row['input_tokens']}/{row['output_tokens']}, but the "
        f"response reported {sent.input_tokens}/{sent.output_tokens}")
    assert row["total_tokens"] == sent.input_tokens + sent.output_tokens
    if sent.cache_read is not None:
        assert row["token_details"]["cache_read_input_tokens"] == sent.cache_read, (
            f"usage row of {what}: cache-read tokens {row['token_details']} vs reported {sent.cache_read}")
    assert row["request_tags"] is not None and dict(row["request_tags"]) == gwc_usage_tag, (
        f"usage row of {what}: request_tags {row['request_tags']}, sent {gwc_usage_tag}")
    assert row["streaming"] is stream
    assert row["requester"], f"usage row of {what} has no requester"
    if expected_requester is not None:
        assert row["requester"] == expected_requester, (
            f"usage row of {what}: requester {row['requester']!r}, "
            f"the token belongs to {expected_requester!r}")
    assert reveal(gwc_gateway_token) not in json.dumps(row,
                                                       default=str), f"usage row of {what} holds the token"


@pytest.mark.gwc_check("gateway.inference-table.assembled-response")
@pytest.mark.parametrize(("surface", "stream"), CASES)
def test_each_request_is_one_inference_row_holding_what_the_sdk_assembled(
        surface: str, stream: bool, gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret,
        gwc_usage_reader: UsageReader, gwc_usage_tag: dict[str, str]) -> None:
    headers = {TAGS_HEADER: json.dumps(gwc_usage_tag)}
    sent = SENDERS[surface](stream)(gwc_gateway_urls[surface], reveal(gwc_gateway_token), headers)
    what = f"one {'streamed' if stream else 'JSON'} {surface} request"
    row = _one(gwc_usage_reader.rows("inference", gwc_usage_tag[CHECK_TAG], 1), "inference table", what)
    assert row["status_code"] == 200
    assert row["response"], f"inference row of {what} has no response"
    logged = view(surface, json.loads(row["response"]))
    assert logged == sent.assembled, (
        f"inference row of {what}: the logged response differs from what the SDK assembled:\n"
        f"logged: {json.dumps(logged)[:600]}\nsdk:    {json.dumps(sent.assembled)[:600]}")
    logged_request = json.loads(row["request"])  # its model where the surface puts it: body or path
    assert logged_request["model" if surfaces.get(surface).model_in == "body" else "contents"], (
        f"inference row of {what}: the request body is not logged")
    if stream:
        assert row["stream_event_count"] and row["stream_event_count"] > 1, (
            f"inference row of {what}: stream_event_count {row['stream_event_count']}")
    assert dict(row["request_tags"]) == gwc_usage_tag
    headers = dict(row["request_headers"] or {})
    assert not {"authorization", "x-api-key", "x-goog-api-key"} & {h.lower() for h in headers}, (
        f"inference row of {what} logged credential headers: {sorted(headers)}")
    assert reveal(gwc_gateway_token) not in json.dumps(row, default=str), f"inference row of {what}: token"


# ----- refusals ---------------------------------------------------------------------------------------

def _refused(surface: str, url: str, token: str, headers: dict[str, str], model: str | None = None) -> int:
    """Send one request the gateway must refuse; the HTTP status the SDK raised with."""
    try:
        if surface == "anthropic":
            anthropic.Anthropic(base_url=url, auth_token=token, max_retries=0, timeout=30).messages.create(
                model=model or MODELS[surface], max_tokens=32, extra_headers=headers,
                messages=[{"role": "user", "content": PROMPT}])
        elif surface in ("openai", "cursor"):
            client = openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=30)
            if surface == "openai":
                client.responses.create(model=model or MODELS[surface], input=PROMPT, extra_headers=headers)
            else:
                client.chat.completions.create(model=model or MODELS[surface], extra_headers=headers,
                                               messages=[{"role": "user", "content": PROMPT}])
        else:
            with _gemini_client(url, token, headers) as client:
                client.models.generate_content(model=model or MODELS[surface], contents=PROMPT)
    except (anthropic.APIStatusError, openai.APIStatusError) as error:
        return error.status_code
    except genai_errors.APIError as error:
        return error.code
    raise AssertionError(f"{surface}: the request was answered, but it had to be refused")


@pytest.fixture
def limited_policy(gwc_gateway_policy: Policy) -> Iterator[Policy]:
    gwc_gateway_policy.set_limits(qpm=1)
    yield gwc_gateway_policy


REFUSALS = ["401", "403", "429"]


@pytest.mark.gwc_check("gateway.usage-table.refusals-recorded")
@pytest.mark.gwc_mock_only
@pytest.mark.parametrize("surface", list(SENDERS))
@pytest.mark.parametrize("refusal", REFUSALS)
def test_refused_requests_are_rows_with_their_status_and_zero_tokens(
        refusal: str, surface: str, request: pytest.FixtureRequest, gwc_gateway_urls: dict[str, str],
        gwc_gateway_token: Secret, gwc_gateway_restricted_token: Secret, gwc_usage_reader: UsageReader,
        gwc_usage_tag: dict[str, str]) -> None:
    headers = {TAGS_HEADER: json.dumps(gwc_usage_tag)}
    url = gwc_gateway_urls[surface]
    expected_requester: str | None = IDENTITY
    if refusal == "401":
        status, expected_requester = _refused(surface, url, BAD_TOKEN, headers), None
    elif refusal == "403":
        status = _refused(surface, url, reveal(gwc_gateway_restricted_token), headers)
        expected_requester = RESTRICTED_IDENTITY
    else:
        request.getfixturevalue("limited_policy")
        SENDERS[surface](False)(url, reveal(gwc_gateway_token), headers)  # the one request the minute allows
        status = _refused(surface, url, reveal(gwc_gateway_token), headers)
    assert status == int(refusal), f"{surface}: expected the gateway to refuse with {refusal}, got {status}"
    tag = gwc_usage_tag[CHECK_TAG]
    rows = [r for r in gwc_usage_reader.rows("usage", tag, 1) if r["status_code"] == status]
    row = _one(rows, "usage table", f"the {status} refusal on {surface}")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (0, 0, 0), (
        f"usage row of a {status} refusal on {surface} reports tokens "
        f"{row['input_tokens']}/{row['output_tokens']}")
    assert row["requester"] == expected_requester, (
        f"usage row of a {status} refusal: requester {row['requester']!r}, expected {expected_requester!r}")
    assert dict(row["request_tags"] or {}) == gwc_usage_tag, "a refused request's row keeps the tags it sent"
    assert row["error_type"], f"usage row of a {status} refusal has no error_type"
    dumped = json.dumps(row, default=str)
    assert BAD_TOKEN not in dumped and reveal(gwc_gateway_restricted_token) not in dumped, (
        "a refused token reached the usage table")
    (inference,) = [r for r in gwc_usage_reader.rows("inference", tag, 1) if r["status_code"] == status]
    assert inference["error"]["type"] and inference["error"]["message"]
    assert BAD_TOKEN not in json.dumps(inference, default=str)


# ----- request tags -----------------------------------------------------------------------------------

MALFORMED_TAGS = {"not-json": "team=platform;oops", "array": '["a", "b"]', "number-value": '{"cost": 5}',
                  "empty-key": '{"": "x"}'}


@pytest.mark.gwc_check("gateway.usage.malformed-tags-refused")
@pytest.mark.parametrize("surface", list(SENDERS))
@pytest.mark.parametrize("malformed", list(MALFORMED_TAGS))
def test_malformed_request_tags_are_refused_with_400_in_the_surface_envelope(
        malformed: str, surface: str, gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret) -> None:
    headers = {TAGS_HEADER: MALFORMED_TAGS[malformed]}
    status = _refused(surface, gwc_gateway_urls[surface], reveal(gwc_gateway_token), headers)
    assert status == 400, (f"{surface}: {TAGS_HEADER}: {MALFORMED_TAGS[malformed]!r} must be refused "
                           f"with 400 (a JSON object of string values is required), got {status}")


@pytest.mark.gwc_check("gateway.usage.legacy-tags-header")
@pytest.mark.gwc_mock_only
def test_the_legacy_tags_header_is_an_alias(gwc_gateway_urls: dict[str, str], gwc_gateway_token: Secret,
                                            gwc_usage_reader: UsageReader, gwc_usage_tag: dict[str,
                                                                                               str]) -> None:
    legacy = ",".join(f"{k}={v}" for k, v in gwc_usage_tag.items())
    _anthropic(False)(gwc_gateway_urls["anthropic"], reveal(gwc_gateway_token),
                      {"x-databricks-request-tags": legacy})
    row = _one(gwc_usage_reader.rows("usage", gwc_usage_tag[CHECK_TAG], 1), "usage table",
               "a legacy-tagged request")
    assert dict(row["request_tags"]) == gwc_usage_tag
    assert TAGS_HEADER.lower() == REQUEST_TAGS_HEADER
