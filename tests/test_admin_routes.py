"""The mock's admin routes: every value validated, and only the admin token steers them.

Issue 14 items 6 and 7: values such as ``{"qpm": "x"}`` or ``{"path": 7}`` were accepted
and then made every generate request on all four surfaces answer 500 until a reset;
``{"status": 500.5}`` dropped connections, ``{"error": {"status": 200}}`` sent an error body
under a 200, and any model token could read another identity's ledger and queue faults
for it. Each bad value here must be refused with a 400 whose JSON names the field, and
after every one of them all four surfaces must still serve a good request (contract C2:
``/_admin/*`` takes only ``Authorization: Bearer <admin token>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway_conformance.gateway.app import GatewayConfig, create_gateway
from gateway_conformance.server import ServerHandle
from gateway_wire import assert_every_surface_serves, bearer

MODEL_TOKEN = "gwc-admin-test-model-token"
OTHER_TOKEN = "gwc-admin-test-other-identity"
ADMIN_TOKEN = "gwc-admin-test-admin-token"

# (route, body, a word the 400's message must contain: the field or the rule it broke)
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("limits", {"qpm": "x"}, "qpm"),
    ("limits", {"tpm": [1]}, "tpm"),
    ("limits", {"qpm": 1.5}, "qpm"),
    ("limits", {"qpm": True}, "qpm"),
    ("limits", {"qpm": -1}, "qpm"),
    ("limits", {"tpm": 10**30}, "tpm"),
    ("limits", {"qpm": 1, "rpm": 2}, "rpm"),
    ("limits", [{"qpm": 1}, {"qpm": 2}], "one"),
    ("limits", "qpm", "object"),
    ("faults", {"path": 7}, "path"),
    ("faults", {"status": 429, "retry_after": "abc"}, "retry_after"),
    ("faults", {"status": 429, "retry_after": -5}, "retry_after"),
    ("faults", {"status": 429, "retry_after": 1e300}, "retry_after"),
    ("faults", {"status": 500.5}, "status"),
    ("faults", {"status": "500"}, "status"),
    ("faults", {"status": 200}, "status"),
    ("faults", {"status": True}, "status"),
    ("faults", {"message": 5, "status": 500}, "message"),
    ("faults", {"delay_first_byte": "1"}, "delay_first_byte"),
    ("faults", {"delay_between_events": 61}, "delay_between_events"),
    ("faults", {"cut_after_events": 1.5}, "cut_after_events"),
    ("faults", {"malformed_after_events": "2"}, "malformed_after_events"),
    ("faults", {"drop_connection": "yes"}, "drop_connection"),
    ("faults", {"surface": "nope"}, "surface"),
    ("faults", {"surface": 3}, "surface"),
    ("faults", {"kind": "everything"}, "kind"),
    ("faults", {"marker": {"a": 1}}, "marker"),
    ("faults", {"colour": "red"}, "colour"),
    ("faults", [{"status": 503}, 7], "object"),
    ("script", {"error": {"status": 99}}, "status"),
    ("script", {"error": {"status": 200}}, "status"),
    ("script", {"error": {"status": "500"}}, "status"),
    ("script", {"error": {"status": 429, "retry_after": "soon"}}, "retry_after"),
    ("script", {"error": {"status": 500, "message": ["x"]}}, "message"),
    ("script", {"error": {"status": 500, "colour": 1}}, "colour"),
    ("script", {"error": "boom"}, "error"),
    ("script", {"text": 5}, "text"),
    ("script", {"text": "hi", "error": {"status": 500}}, "error"),
    ("script", {"stop_reason": "because"}, "stop_reason"),
    ("script", {"input_tokens": -3}, "input_tokens"),
    ("script", {"output_tokens": "many"}, "output_tokens"),
    ("script", {"tool_calls": "get_weather"}, "tool_calls"),
    ("script", {"tool_calls": [{"arguments": {}}]}, "name"),
    ("script", {"tool_calls": [{"name": 5}]}, "name"),
    ("script", {"tool_calls": [{"name": "f", "arguments": [1]}]}, "arguments"),
    ("script", {"tool_calls": [{"name": "f", "id": 9}]}, "id"),
    ("script", {"surface": "nope", "text": "x"}, "surface"),
    ("script", {"marker": 12, "text": "x"}, "marker"),
]
BAD_BODIES: list[tuple[str, bytes]] = [
    ("faults", b"{not json"), ("script", b"\xff\xfe"), ("limits", b""), ("faults", b"[" * 5000 + b"]" * 5000),
]


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    config = GatewayConfig(tokens={MODEL_TOKEN: "conformance", OTHER_TOKEN: "other"}, admin_token=ADMIN_TOKEN)
    with ServerHandle(create_gateway(config), name="admin-test") as server:
        yield server.url


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def _reset_after(http: httpx.Client, root: str) -> Iterator[None]:
    """A failing case must not leave a queued fault behind for the next one."""
    yield
    http.post(f"{root}/_admin/reset", headers=bearer(ADMIN_TOKEN))


def _refused(response: httpx.Response, route: str, body: object, word: str) -> None:
    assert response.status_code == 400, (
        f"POST /_admin/{route} {body!r} answered {response.status_code} {response.text[:200]!r}; "
        f"a value the route cannot use must be refused with 400")
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and word in error["message"], (
        f"POST /_admin/{route} {body!r}: the 400 must say what is wrong ({word!r}), said {error!r}")


@pytest.mark.parametrize(("route", "body", "word"), BAD_VALUES,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_VALUES)])
def test_a_bad_value_is_refused_and_breaks_nothing(http: httpx.Client, root: str, route: str, body: Any,
                                                   word: str) -> None:
    response = http.post(f"{root}/_admin/{route}", json=body, headers=bearer(ADMIN_TOKEN))
    _refused(response, route, body, word)
    assert_every_surface_serves(http, root, MODEL_TOKEN, f"POST /_admin/{route} {body!r}")


@pytest.mark.parametrize(("route", "content"), BAD_BODIES,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_BODIES)])
def test_a_body_that_is_not_json_is_refused(http: httpx.Client, root: str, route: str,
                                            content: bytes) -> None:
    response = http.post(f"{root}/_admin/{route}", content=content, headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 400, (route, response.status_code, response.text[:200])
    assert response.json()["error"]["type"] == "invalid_request"
    assert_every_surface_serves(http, root, MODEL_TOKEN, f"POST /_admin/{route} {content[:20]!r}")


def test_good_values_still_take_effect(http: httpx.Client, root: str) -> None:
    admin = bearer(ADMIN_TOKEN)
    try:
        assert http.post(f"{root}/_admin/limits", json={"qpm": 2, "tpm": None}, headers=admin).json() == {
            "qpm": 2, "tpm": None}
        fault = {"status": 429, "retry_after": 7.4, "surface": "gemini", "kind": "generate"}
        assert http.post(f"{root}/_admin/faults", json=fault, headers=admin).status_code == 200
        assert http.post(f"{root}/_admin/script", json=[{"text": "scripted", "surface": "anthropic"},
                                                        {"error": {"status": 503, "retry_after": 2}}],
                         headers=admin).json()["queued"] == 2
    finally:
        assert http.post(f"{root}/_admin/reset", headers=admin).status_code == 200


def test_admin_routes_take_only_the_admin_token(http: httpx.Client, root: str) -> None:
    """Issue 14 item 7: a model token must neither read the ledger nor steer the mock."""
    routes = [("GET", "ledger", None), ("POST", "script", {"text": "x"}), ("POST", "faults", {"status": 503}),
              ("POST", "limits", {"qpm": 1}), ("POST", "reset", None)]
    for method, route, body in routes:
        url = f"{root}/_admin/{route}"
        missing = http.request(method, url, json=body)
        assert missing.status_code == 401, (method, route, missing.status_code)
        wrong = http.request(method, url, json=body, headers=bearer("gwc-not-any-token"))
        assert wrong.status_code == 401, (method, route, wrong.status_code)
        for model_token in (MODEL_TOKEN, OTHER_TOKEN):
            refused = http.request(method, url, json=body, headers=bearer(model_token))
            assert refused.status_code == 403, (
                f"{method} /_admin/{route} with a model token answered {refused.status_code}; "
                f"admin routes take only the admin token (contract C2)")
            assert "admin token" in refused.json()["error"]["message"]
    assert http.get(f"{root}/_admin/ledger", headers=bearer(ADMIN_TOKEN)).status_code == 200
    assert_every_surface_serves(http, root, MODEL_TOKEN, "the refused admin calls")  # nothing was queued


def test_the_admin_token_is_not_a_model_token(http: httpx.Client, root: str) -> None:
    path, body = ("/anthropic/v1/messages", {"model": "databricks-claude-opus-4-6", "max_tokens": 8,
                                             "messages": [{"role": "user", "content": "hi"}]})
    assert http.post(root + path, json=body, headers=bearer(ADMIN_TOKEN)).status_code == 401


def test_a_gateway_without_an_admin_token_gets_a_random_one() -> None:
    first = create_gateway(GatewayConfig(tokens={MODEL_TOKEN: "conformance"}))
    second = create_gateway(GatewayConfig(tokens={MODEL_TOKEN: "conformance"}))
    assert first.admin_token and first.admin_token != second.admin_token
    assert first.admin_token.reveal() not in (MODEL_TOKEN,)


def test_an_anthropic_error_carries_the_request_id(http: httpx.Client, root: str) -> None:
    """Anthropic's published ErrorResponse requires ``request_id`` (found by campaign (c))."""
    response = http.post(f"{root}/anthropic/v1/messages", json={"model": "databricks-claude-opus-4-6"},
                         headers=bearer(MODEL_TOKEN))
    assert response.status_code == 400
    assert response.json()["request_id"] == response.headers["request-id"]
