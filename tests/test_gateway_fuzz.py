"""Arbitrary and malformed requests against every route of the mock: never a 5xx, errors
always in the surface's own envelope, and the server keeps serving afterwards."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway_conformance.gateway.app import DEFAULT_MODELS, GatewayConfig, create_gateway
from gateway_conformance.server import ServerHandle
from gateway_conformance.sse import SSEParser

TOKEN = "gwc-fuzz-token"
GATEWAY = create_gateway(GatewayConfig(tokens={TOKEN: "fuzz"}, permissions={"fuzz": DEFAULT_MODELS[:3]}))


def _check_envelope(surface: str | None, status: int, body: Any) -> None:
    """Each protocol's error shape, as its clients read it (independent of the mock's code)."""
    if surface == "anthropic":
        assert body["type"] == "error" and isinstance(body["error"]["type"], str)
        assert isinstance(body["error"]["message"], str)
    elif surface in ("openai", "cursor"):
        assert isinstance(body["error"]["message"], str) and "type" in body["error"]
    elif surface == "gemini":
        assert body["error"]["code"] == status and isinstance(body["error"]["status"], str)
    else:  # outside every surface: the gateway's own JSON error
        assert isinstance(body["error"], dict)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with ServerHandle(GATEWAY, name="fuzz-gateway") as server:
        yield server.url


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
roles = st.sampled_from(["user", "assistant", "system", "tool", "model", "function", "developer", ""])
blocks = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["text", "tool_use", "tool_result", "image", "input_text", "function_call",
                             "function_call_output", "output_text"]) | json_values,
    "text": st.text(max_size=20) | json_values, "content": json_values, "name": json_values,
    "arguments": json_values, "id": json_values, "call_id": json_values, "output": json_values})
contents = st.text(max_size=30) | st.lists(blocks, max_size=3) | json_values
messages = st.lists(st.fixed_dictionaries({}, optional={
    "role": roles | json_values, "content": contents, "parts": st.lists(blocks, max_size=2) | json_values,
    "tool_calls": json_values}) | json_values, max_size=3)
plausible_bodies = st.fixed_dictionaries({}, optional={
    "model": st.sampled_from(DEFAULT_MODELS) | json_values, "messages": messages, "contents": messages,
    "input": contents | messages, "max_tokens": st.integers(-2, 100) | json_values,
    "stream": st.booleans() | json_values, "tools": st.lists(blocks | json_values, max_size=2) | json_values,
    "system": contents, "instructions": contents, "systemInstruction": json_values,
    "generationConfig": json_values, "stream_options": json_values, "tool_choice": json_values})
bodies = (plausible_bodies.map(lambda b: json.dumps(b).encode())
          | json_values.map(lambda b: json.dumps(b).encode())
          | st.binary(max_size=64))


def _routes() -> list[tuple[str, str, str]]:
    """(surface, method, path template) for every endpoint of every registered surface."""
    return [(s.name, e.method, s.prefix + e.path) for s in GATEWAY.surfaces.values() for e in s.endpoints]


path_text = st.text(string.ascii_letters + string.digits + "-_.:~/", max_size=20)
model_names = st.sampled_from(DEFAULT_MODELS) | st.text(string.ascii_letters + "-.:", min_size=1, max_size=12)
known = st.tuples(st.sampled_from(_routes()), model_names).map(
    lambda r: (r[0][0], r[0][1], r[0][2].replace("{model}", r[1])))
under_prefix = st.tuples(st.sampled_from([(s.name, s.prefix) for s in GATEWAY.surfaces.values()]),
                         st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path_text).map(
    lambda r: (r[0][0], r[1], f"{r[0][1]}/{r[2]}"))
anywhere = st.tuples(st.sampled_from(["GET", "POST"]), path_text).map(lambda r: (None, r[0], f"/{r[1]}"))
header_text = st.text(string.printable.strip("\r\n\x0b\x0c"), max_size=30).map(str.strip)  # h11 rule
auth = st.sampled_from([f"Bearer {TOKEN}", "Bearer", "bearer  x", "Basic Zm9vOmJhcg==", ""]) | header_text
headers = st.fixed_dictionaries({}, optional={
    "authorization": auth, "x-goog-api-key": st.just(TOKEN) | header_text,
    "content-type": st.sampled_from(["application/json", "text/plain", "multipart/form-data"]) | header_text,
    "user-agent": header_text, "anthropic-version": header_text, "x-databricks-request-tags": header_text,
    "x-claude-code-session-id": header_text})
queries = st.sampled_from(["", "?beta=true", "?alt=sse", "?alt=json&x=%zz"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=known | under_prefix | anywhere, query=queries, body=bodies, extra=headers)
def test_any_request_gets_a_sane_answer(http: httpx.Client, base_url: str, route: tuple[str | None, str, str],
                                        query: str, body: bytes, extra: dict[str, str]) -> None:
    surface, method, path = route
    content = body if method not in ("GET", "HEAD") else None
    with http.stream(method, base_url + path + query, content=content, headers=extra) as response:
        raw = response.read()
    assert response.status_code < 500, (response.status_code, raw[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        owner = surface if path.startswith(GATEWAY.surfaces[surface].prefix if surface else "\0") else None
        _check_envelope(owner, response.status_code, json.loads(raw))
    elif response.headers.get("content-type", "").startswith("text/event-stream"):
        parser = SSEParser()
        assert parser.feed(raw) and parser.close() == b""
    else:
        assert isinstance(json.loads(raw), dict)


def test_server_keeps_serving_after_the_fuzz(http: httpx.Client, base_url: str) -> None:
    response = http.post(base_url + "/anthropic/v1/messages", headers={"authorization": f"Bearer {TOKEN}"},
                         json={"model": DEFAULT_MODELS[0], "max_tokens": 8,
                               "messages": [{"role": "user", "content": "still there?"}]})
    assert response.status_code == 200
    assert len(GATEWAY.ledger) > 0
