"""Policy, streaming and fault behaviour, the same on every registered surface.

Plain httpx is the client here: these checks are about status codes, headers, envelopes
and bytes on the wire, which an SDK would hide. Each surface's requests and its exact error
envelope come from the judging side's reading of its protocol (:mod:`gateway_conformance.surfaces`),
not from the mock's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway_conformance import surfaces
from gateway_conformance.gateway.app import default_surfaces
from gateway_conformance.remote import AuthScheme, credentials
from gateway_conformance.roster import documented_agent
from gateway_conformance.secret import Secret
from gateway_conformance.sse import SSEEvent, SSEParser
from gateway_conformance.surfaces import Sink, Surface
from gateway_conformance.target import DOCUMENTED_MODELS, Target

PROMPT = "one two three four"
REGISTERED = [surface.name for surface in default_surfaces()]


@pytest.fixture(params=REGISTERED)
def surface(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def shape(surface: str) -> Surface:
    if surface not in surfaces.SURFACES:
        pytest.fail(f"surface {surface!r} is registered but the judging side has no module for it "
                    f"(gateway_conformance/surfaces/)")
    return surfaces.get(surface)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@dataclass
class Caller:
    """One surface as the target serves it: its base URL, auth scheme and model (the profile's)."""

    http: httpx.Client
    base: str
    shape: Surface
    token: Secret
    auth: AuthScheme = "bearer"
    model: str = ""

    def headers(self, token: Secret | str | None = "default", **extra: str) -> dict[str, str]:
        token = self.token if token == "default" else token
        return {**credentials(self.auth, token)[0], **extra}

    def params(self, token: Secret | str | None = "default") -> dict[str, str]:
        return credentials(self.auth, self.token if token == "default" else token)[1]

    def generate(self, *, stream: bool = False, model: str | None = None,
                 token: Secret | str | None = "default",
                 **headers: str) -> httpx.Response:
        path, body = self.shape.request(model or self.model, PROMPT, stream=stream)
        return self.http.post(self.base + path, json=body, headers=self.headers(token, **headers),
                              params=self.params(token))

    def stream(self, **headers: str) -> Any:
        path, body = self.shape.request(self.model, PROMPT, stream=True)
        return self.http.stream("POST", self.base + path, json=body, headers=self.headers(**headers),
                                params=self.params())


@pytest.fixture
def call(http: httpx.Client, gwc_gateway_urls: dict[str, str], surface: str, shape: Surface,
         gwc_gateway_token: Secret, gwc_target: Target) -> Caller:
    return Caller(http, gwc_gateway_urls[surface], shape, gwc_gateway_token, gwc_target.surface(surface).auth,
                  gwc_target.model(documented_agent(surface)))


def _error(response: httpx.Response, status: int, shape: Surface) -> dict[str, Any]:
    """The answer is ``status`` in the surface's error envelope; else one sentence saying so."""
    where = (f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
             f"{response.text[:200]!r}")
    assert response.status_code == status, f"{where}; required {status} in the surface's error envelope"
    media = response.headers.get("content-type", "")
    assert media.startswith("application/json"), f"{where}; required a JSON error envelope, got {media!r}"
    body = response.json()
    sink = Sink()
    shape.check_error(body, status, sink, "envelope", exact=True)
    assert not sink.findings, (f"{where}; required the surface's error envelope: "
                               + "; ".join(f.message for f in sink.findings))
    return body


def _events(chunks: Iterator[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


@pytest.mark.gwc_self_check
def test_every_registered_surface_has_a_shape() -> None:
    assert set(REGISTERED) == set(surfaces.SURFACES), (
        "add the new surface's module to gateway_conformance/surfaces/")


@pytest.mark.gwc_check("gateway.auth.missing-token")
def test_missing_and_invalid_token_are_told_apart(call: Caller, shape: Surface) -> None:
    missing = _error(call.generate(token=None), 401, shape)
    invalid = _error(call.generate(token="not-a-valid-token"), 401, shape)
    assert json.dumps(missing) != json.dumps(invalid)


@pytest.mark.gwc_check("gateway.policy.model-permission")
@pytest.mark.gwc_mock_only
def test_forbidden_model(call: Caller, shape: Surface, gwc_gateway_restricted_token: Secret) -> None:
    _error(call.generate(token=gwc_gateway_restricted_token), 403, shape)


@pytest.mark.gwc_check("gateway.errors.malformed-json")
def test_malformed_json_body(call: Caller, shape: Surface) -> None:
    path, _ = shape.request(call.model, PROMPT, stream=False)
    response = call.http.post(call.base + path, content=b"{not json", headers=call.headers())
    _error(response, 400, shape)


@pytest.mark.gwc_check("gateway.errors.body-not-object")
def test_body_that_is_not_an_object(call: Caller, shape: Surface) -> None:
    path, _ = shape.request(call.model, PROMPT, stream=False)
    _error(call.http.post(call.base + path, json=[1, 2], headers=call.headers()), 400, shape)


@pytest.mark.gwc_check("gateway.errors.unknown-route")
def test_unknown_route_under_prefix(call: Caller, shape: Surface) -> None:
    _error(call.http.get(call.base + "/definitely/not/here", headers=call.headers()), 404, shape)


@pytest.mark.gwc_check("gateway.limits.qpm-retry-after")
@pytest.mark.gwc_mock_only
def test_qpm_limit_then_window_clears(call: Caller, shape: Surface, gwc_gateway_policy,
                                      gwc_gateway_clock) -> None:
    gwc_gateway_policy.set_limits(qpm=2)
    assert [call.generate().status_code for _ in range(2)] == [200, 200]
    limited = call.generate()
    _error(limited, 429, shape)
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 60
    gwc_gateway_clock.advance(retry_after - 0.5)
    assert call.generate().status_code == 429, "the window must not clear before Retry-After"
    gwc_gateway_clock.advance(0.5)
    assert call.generate().status_code == 200


@pytest.mark.gwc_check("gateway.limits.tpm")
@pytest.mark.gwc_mock_only
def test_tpm_limit(call: Caller, shape: Surface, gwc_gateway_policy, gwc_gateway_clock,
                   gwc_gateway_ledger) -> None:
    gwc_gateway_policy.set_limits(tpm=60)
    statuses = [call.generate().status_code for _ in range(10)]
    assert 429 in statuses and statuses[0] == 200
    admitted = [r for r in gwc_gateway_ledger.records() if r.status == 200]
    assert sum(r.input_tokens for r in admitted) <= 60
    limited = call.generate()
    _error(limited, 429, shape)
    gwc_gateway_clock.advance(int(limited.headers["retry-after"]))
    assert call.generate().status_code == 200


@pytest.mark.gwc_check("gateway.limits.tpm-retry-after-exact")
@pytest.mark.gwc_mock_only
def test_tpm_retry_after_is_when_the_window_has_room(call: Caller, shape: Surface, gwc_gateway_policy,
                                                     gwc_gateway_clock, gwc_gateway_ledger) -> None:
    """Retry-After of a TPM refusal is the time until enough of the window expires (here: the
    first request's tokens leave it 60 s after it was admitted), not a fixed minute."""
    assert call.generate().status_code == 200  # unlimited: learn what one request costs
    (probe,) = gwc_gateway_ledger.records()
    cost = probe.input_tokens + probe.output_tokens
    gwc_gateway_policy.set_limits(tpm=cost + probe.input_tokens - 1)  # room for one request, not two
    assert call.generate().status_code == 200
    gwc_gateway_clock.advance(15)
    limited = call.generate()
    _error(limited, 429, shape)
    assert limited.headers["retry-after"] == "45", (
        f"Retry-After {limited.headers['retry-after']!r}: the first request leaves the window at "
        f"60 s, 15 s have passed, so 45 s is when the next one fits")
    gwc_gateway_clock.advance(44)
    assert call.generate().status_code == 429, "no room before Retry-After"
    gwc_gateway_clock.advance(1)
    assert call.generate().status_code == 200, "room exactly at Retry-After"


@pytest.mark.gwc_check("gateway.limits.per-token")
@pytest.mark.gwc_mock_only
def test_limits_are_per_token(call: Caller, gwc_gateway_policy, gwc_gateway_restricted_token: Secret) -> None:
    gwc_gateway_policy.set_limits(qpm=1)
    gwc_gateway_policy.allow("restricted", None)
    assert call.generate().status_code == 200
    assert call.generate().status_code == 429
    assert call.generate(token=gwc_gateway_restricted_token).status_code == 200


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
@pytest.mark.parametrize("status", [400, 500, 503, 529])
def test_injected_status_in_envelope(call: Caller, shape: Surface, gwc_gateway_faults, status: int) -> None:
    gwc_gateway_faults.inject(status=status)
    _error(call.generate(), status, shape)
    assert call.generate().status_code == 200, "a fault fires once"


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
@pytest.mark.gwc_allow_leftovers  # the fault for another surface must stay queued: that is the check
def test_fault_filtered_by_surface(call: Caller, surface: str, gwc_gateway_faults) -> None:
    gwc_gateway_faults.inject(status=503, surface=f"not-{surface}")
    assert call.generate().status_code == 200
    assert len(gwc_gateway_faults.pending()) == 1


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
def test_cut_stream_ends_without_clean_close(call: Caller, gwc_gateway_faults, gwc_gateway_ledger) -> None:
    gwc_gateway_faults.inject(cut_after_events=2)
    parser = SSEParser()
    received: list[SSEEvent] = []
    with pytest.raises(httpx.RemoteProtocolError), call.stream() as response:
        for chunk in response.iter_raw():
            received += parser.feed(chunk)
    assert len(received) == 2
    (record,) = gwc_gateway_ledger.records()
    assert record.fault == "cut:2" and record.events == 2


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
def test_dropped_connection_sends_nothing(call: Caller, gwc_gateway_faults, gwc_gateway_ledger) -> None:
    gwc_gateway_faults.inject(drop_connection=True)
    with pytest.raises(httpx.RemoteProtocolError):
        call.generate()
    assert gwc_gateway_ledger.records()[0].fault == "dropped"
    assert call.generate().status_code == 200, "the server keeps serving"


@pytest.mark.gwc_check("gateway.faults.malformed-event-not-repaired")
@pytest.mark.gwc_mock_only
def test_malformed_chunk(call: Caller, gwc_gateway_faults) -> None:
    gwc_gateway_faults.inject(malformed_after_events=1)
    with call.stream() as response:
        events = _events(response.iter_raw())
    assert json.loads(events[0].data)
    with pytest.raises(ValueError):
        json.loads(events[1].data)
    assert all(json.loads(e.data) for e in events[2:] if e.data and e.data != "[DONE]")


@pytest.mark.gwc_check("gateway.usage.first-byte-latency")
@pytest.mark.gwc_mock_only
def test_delay_before_first_byte(call: Caller, gwc_gateway_faults, gwc_gateway_ledger) -> None:
    gwc_gateway_faults.inject(delay_first_byte=0.2)
    with call.stream() as response:
        list(response.iter_raw())
    (record,) = gwc_gateway_ledger.records()
    assert record.fault == "delay"
    assert record.first_byte_ms is not None and record.first_byte_ms >= 200


@pytest.mark.gwc_mock_only
@pytest.mark.parametrize(("user_agent", "agent"), [
    ("claude-cli/2.1.197 (external, cli)", "claude-code"),
    ("codex_exec/0.133.0 (Ubuntu 24.4.0; x86_64)", "codex"),
    ("GeminiCLI/0.39.0/databricks-gemini-2-5-flash (linux; x64)", "gemini-cli"),
    ("Cursor/1.0", "cursor"),
    ("OpenAI/Python 3.57.0", "openai-sdk"),
    ("something-else/1.0", "unknown"),
])
@pytest.mark.gwc_check("gateway.usage.request-record")
def test_ledger_record(call: Caller, surface: str, gwc_gateway_ledger,
                       gwc_gateway_token: Secret,
                       user_agent: str, agent: str) -> None:
    response = call.generate(**{"user-agent": user_agent, "x-databricks-request-tags": '{"team": "ml"}',
                                "session_id": "s-1"})
    assert response.status_code == 200
    (record,) = gwc_gateway_ledger.records()
    assert (record.surface, record.identity, record.agent, record.model) == (
        surface, "conformance", agent, call.model)
    assert record.status == 200 and record.input_tokens > 0 and record.output_tokens > 0
    assert record.request_tags == {"team": "ml"} and record.session_id == "s-1"
    assert record.latency_ms > 0
    assert gwc_gateway_token.reveal() not in json.dumps(record.to_dict())


@pytest.mark.gwc_check("gateway.usage.errors-recorded")
@pytest.mark.gwc_mock_only
def test_errors_are_recorded_too(call: Caller, gwc_gateway_ledger) -> None:
    call.generate(token="not-a-valid-token")
    call.generate(model="no-such-model")
    records = gwc_gateway_ledger.records()
    assert [(r.status, r.error_kind, r.identity) for r in records] == [
        (401, "authentication", None), (404, "not_found", "conformance")]


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
def test_probe_answers_without_auth(http: httpx.Client, gwc_gateway_urls: dict[str, str]) -> None:
    for method in ("HEAD", "GET"):
        assert http.request(method, gwc_gateway_urls["anthropic"]).status_code == 200


@pytest.mark.gwc_check("anthropic.errors.other-4xx-in-envelope")
@pytest.mark.gwc_mock_only
def test_wrong_method_is_405_in_envelope(http: httpx.Client, gwc_gateway_urls: dict[str, str]) -> None:
    response = http.get(gwc_gateway_urls["anthropic"] + "/v1/messages")
    _error(response, 405, surfaces.get("anthropic"))


@pytest.mark.gwc_self_check
@pytest.mark.gwc_mock_only
def test_admin_routes_drive_the_mock(http: httpx.Client, gwc_gateway, gwc_gateway_urls: dict[str, str],
                                     gwc_gateway_token: Secret, gwc_gateway_ledger) -> None:
    admin = gwc_gateway.url + "/_admin"
    auth = {"authorization": f"Bearer {gwc_gateway.admin_token.reveal()}"}
    assert http.get(admin + "/ledger").status_code == 401
    assert http.post(admin + "/faults", json={"status": 503}).status_code == 401
    model = {"authorization": f"Bearer {gwc_gateway_token.reveal()}"}  # a model token is not an admin
    assert http.get(admin + "/ledger", headers=model).status_code == 403
    assert http.post(admin + "/script", json={"bogus": 1}, headers=auth).status_code == 400
    scripted = http.post(admin + "/script", json={"text": "from the admin route"}, headers=auth)
    assert scripted.json()["queued"] == 1
    assert http.post(admin + "/faults", json=[{"status": 503, "surface": "anthropic"}],
                     headers=auth).json()["pending"] == 1
    anthropic = surfaces.get("anthropic")
    caller = Caller(http, gwc_gateway_urls["anthropic"], anthropic, gwc_gateway_token,
                    model=DOCUMENTED_MODELS[documented_agent("anthropic")])
    _error(caller.generate(), 503, anthropic)
    assert caller.generate().json()["content"][0]["text"] == "from the admin route"
    records = http.get(admin + "/ledger", headers=auth).json()["records"]
    assert [r["status"] for r in records] == [503, 200]
    assert http.post(admin + "/limits", json={"qpm": 1}, headers=auth).json()["qpm"] == 1
    assert http.post(admin + "/reset", headers=auth).status_code == 200
    assert http.get(admin + "/ledger", headers=auth).json()["records"] == []
    assert gwc_gateway.core.policy.limits.qpm is None
