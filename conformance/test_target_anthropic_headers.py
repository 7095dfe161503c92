"""Claude Code's headers through the gateway: ``anthropic-beta`` and ``anthropic-version``
must reach the upstream unchanged (SPEC section 4), and so must the upstream's answer.

What a client can observe, and so what is checked against any target: the Messages API
refuses a beta name it does not know and a malformed version with a 400
``invalid_request_error`` naming the header. A gateway that drops or rewrites the header
turns that 400 into a 200 (the check fails); one that rewrites errors loses the wording
Claude Code's recovery matches on (the check fails too). A real beta Claude Code sends must
still be accepted. That the headers arrive byte for byte is visible only upstream: that is
``gateway.forwarding.request-headers`` in test_upstream_mode.py.
"""

from __future__ import annotations

import pytest

from gateway_conformance.remote import Answer, RemoteClient
from gateway_conformance.target import Target

NOT_A_BETA = "gateway-conformance-not-a-beta"
NOT_A_VERSION = "gateway-conformance-not-a-version"
# What Claude Code 2.x sends (recorded in fixtures/agents/claude-code/cassettes).
CLAUDE_CODE_BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14"
VERSION = "2023-06-01"


def send(client: RemoteClient, model: str, **headers: str) -> Answer:
    body = {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": "Say ok."}]}
    return client.request("POST", "/v1/messages", json=body,
                          headers={"anthropic-version": VERSION, **headers})


def assert_invalid_request(answer: Answer, header: str, value: str) -> None:
    answer.require(answer.status == 400, f"the upstream's 400 for {header}: {value} (a 200 means the gateway "
                                         f"did not forward the header unchanged)")
    findings = answer.findings("anthropic")
    answer.require(not findings, "the Anthropic error grammar: " + "; ".join(map(str, findings)))
    kind = answer.field("error", "type", requirement="an Anthropic error envelope")
    answer.require(kind == "invalid_request_error", "error.type invalid_request_error")
    message = answer.field("error", "message", requirement="an Anthropic error envelope")
    answer.require(header in str(message) and value in str(message),
                   "the upstream's error message naming the header and value (not rewritten on the way)")


@pytest.fixture
def client(gwc_remote_clients: dict[str, RemoteClient]) -> RemoteClient:
    return gwc_remote_clients["anthropic"]


@pytest.fixture
def model(gwc_target: Target) -> str:
    return gwc_target.model("claude-code")


@pytest.mark.gwc_check("anthropic.headers.beta-forwarded")
def test_unknown_beta_reaches_the_upstream(client: RemoteClient, model: str) -> None:
    answer = send(client, model, **{"anthropic-beta": NOT_A_BETA})
    assert_invalid_request(answer, "anthropic-beta", NOT_A_BETA)


@pytest.mark.gwc_check("anthropic.headers.claude-code-betas-accepted")
def test_claude_code_betas_are_accepted(client: RemoteClient, model: str) -> None:
    answer = send(client, model, **{"anthropic-beta": CLAUDE_CODE_BETAS})
    answer.require(answer.status == 200, f"200 for the betas Claude Code sends ({CLAUDE_CODE_BETAS})")
    findings = answer.findings("anthropic")
    answer.require(not findings, "the Anthropic grammar: " + "; ".join(map(str, findings)))


@pytest.mark.gwc_check("anthropic.headers.version-forwarded")
def test_invalid_version_reaches_the_upstream(client: RemoteClient, model: str) -> None:
    assert_invalid_request(send(client, model, **{"anthropic-version": NOT_A_VERSION}),
                           "anthropic-version", NOT_A_VERSION)


