"""Redaction: planted tokens in headers, query strings and bodies never reach a cassette.

The planted values are built at run time from obviously fake parts, so no token-shaped
literal sits in this file (the repository-wide scan stays meaningful).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway_conformance import traffic_cmd
from gateway_conformance.server import ServerHandle
from gateway_conformance.sse import encode_event
from gateway_conformance.traffic.cassette import (
    Cassette,
    Interaction,
    Metadata,
    RecordedRequest,
    RecordedResponse,
)
from gateway_conformance.traffic.record import recording
from gateway_conformance.traffic.redact import (
    PLACEHOLDER,
    SecretRemains,
    ensure_clean,
    find_secrets,
    redact,
)

FAKE = {
    "pat": "dapi" + "0123456789abcdef" * 2,
    "openai": "sk-" + "proj-" + "FAKEFAKEFAKE" * 3,
    "google": "AIza" + "X" * 35,
    "jwt": "eyJ" + "hbGciOiJub25l" + ".eyJ" + "zdWIiOiJ0ZXN0In0x" + "." + "c2lnbmF0dXJlX2Zha2U",
    "opaque": "gwc-" + "opaque-session-secret-42",  # no pattern: caught because it was seen as a credential
}


def _all_values() -> list[str]:
    return list(FAKE.values())


def _leaks(text: str) -> list[str]:
    return [name for name, value in FAKE.items() if value in text]


# ---- redaction on a cassette built by hand -------------------------------------------------------

def _dirty_cassette() -> Cassette:
    req = RecordedRequest(
        "POST", "/gemini/v1beta/models/m:streamGenerateContent",
        query=[("alt", "sse"), ("key", FAKE["google"])],
        headers={"authorization": f"Bearer {FAKE['opaque']}", "x-api-key": FAKE["openai"],
                 "x-goog-api-key": FAKE["google"], "cookie": f"session={FAKE['jwt']}",
                 "content-type": "application/json"},
        body={"contents": [{"parts": [{"text": f"my key is {FAKE['pat']} and {FAKE['opaque']}"}]}],
              "nested": {FAKE["openai"]: ["Bearer " + "abcdefgh12345678"]}})
    events = RecordedResponse.from_body(
        200, {"content-type": "text/event-stream"},
        encode_event(json.dumps({"echo": FAKE["jwt"]})) + b"data: " + FAKE["pat"].encode() + b"\r\n\r\n")
    return Cassette(Metadata(agent="a", surface="gemini", rerecord="gateway-conformance record --agent a"),
                    [Interaction(req, events)])


def test_redaction_removes_every_planted_token(tmp_path: Path) -> None:
    cassette = redact(_dirty_cassette())
    assert find_secrets(cassette) == []
    text = cassette.save(tmp_path / "c.json").read_text()
    assert _leaks(text) == []
    req = cassette.interactions[0].request
    assert req.headers["authorization"] == f"Bearer {PLACEHOLDER}"
    assert req.headers["x-goog-api-key"] == PLACEHOLDER
    assert dict(req.query) == {"alt": "sse", "key": PLACEHOLDER}
    assert "Bearer <redacted>" in json.dumps(req.body)
    # the redacted stream is still a stream: same number of events, bytes without the token
    assert len(cassette.interactions[0].response.events or []) == 2


def test_a_cassette_with_a_remaining_secret_is_refused() -> None:
    cassette = _dirty_cassette()
    with pytest.raises(SecretRemains) as info:
        ensure_clean(cassette)
    message = str(info.value)
    assert "refusing to save" in message and "request.headers.authorization" in message
    assert _leaks(message) == [], "the error names places, never values"
    kinds = {f.kind for f in find_secrets(cassette)}
    assert {"databricks-pat", "google-api-key", "jwt", "openai-or-anthropic-key"} <= kinds


# ---- redaction through the recording proxy ---------------------------------------------------------

async def _echo(request: Request) -> StreamingResponse | JSONResponse:
    """An upstream that leaks back everything it was sent, as JSON or as SSE."""
    seen = {"headers": dict(request.headers), "query": str(request.url.query),
            "body": (await request.body()).decode()}
    if request.url.path.endswith("stream"):
        async def events() -> AsyncIterator[bytes]:
            yield encode_event(json.dumps(seen), event="echo")
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"set-cookie": f"s={FAKE['opaque']}"})
    return JSONResponse(seen, headers={"set-cookie": f"s={FAKE['opaque']}"})


@pytest.fixture(scope="module")
def leaky_upstream() -> Iterator[ServerHandle]:
    with ServerHandle(Starlette(routes=[Route("/{p:path}", _echo, methods=["POST"])])) as handle:
        yield handle


@pytest.mark.parametrize("path", ["/anthropic/v1/messages", "/anthropic/v1/stream"])
def test_proxy_saves_no_planted_token(leaky_upstream: ServerHandle, path: str, tmp_path: Path) -> None:
    with recording(leaky_upstream.url) as (proxy, handle):
        resp = httpx.post(handle.url + path, params={"key": FAKE["google"], "q": "1"},
                          headers={"authorization": f"Bearer {FAKE['opaque']}", "x-api-key": FAKE["openai"]},
                          json={"prompt": f"use {FAKE['pat']} with {FAKE['jwt']}"})
        assert resp.status_code == 200
        assert FAKE["opaque"] in resp.text, "the proxy itself passes traffic through unchanged"
        cassette = proxy.cassette(Metadata(agent="a", surface="anthropic", rerecord="x"),
                                  known_secrets=[FAKE["opaque"]])
    text = cassette.save(tmp_path / "c.json").read_text()
    assert _leaks(text) == []
    assert PLACEHOLDER in text


def test_record_command_refuses_unredacted_secrets(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``--no-redact`` keeps traffic as sent, so the token left in it makes the save fail."""
    agents = tmp_path / "agents"
    traffic_cmd._run_new_agent(argparse.Namespace(name="leaky", surface="cursor", dir=agents))
    client = tmp_path / "client.py"
    client.write_text(
        "import os, httpx\n"
        "httpx.post(os.environ['GATEWAY_CONFORMANCE_BASE_URL'] + '/chat/completions',\n"
        "           headers={'authorization': 'Bearer ' + os.environ['GATEWAY_CONFORMANCE_TOKEN']},\n"
        "           json={'model': 'databricks-gpt-5-2', 'messages': [{'role': 'user', 'content': 'hi'}]})\n")
    parser = argparse.ArgumentParser()
    traffic_cmd.record.add_arguments(parser)
    argv = ["--agent", "leaky", "--agents-dir", str(agents), "--no-redact", "--", sys.executable, str(client)]
    assert traffic_cmd.record.run(parser.parse_args(argv)) == 1
    assert "refusing to save" in capsys.readouterr().err
    assert not list((agents / "leaky" / "cassettes").glob("*.json"))
    # with redaction on (the default) the same session saves cleanly
    assert traffic_cmd.record.run(parser.parse_args([a for a in argv if a != "--no-redact"])) == 0
    saved = (agents / "leaky" / "cassettes" / "session.json").read_text()
    assert "Bearer <redacted>" in saved and not find_secrets(Cassette.load(agents / "leaky" / "cassettes"
                                                                            / "session.json"))


# ---- the scan reads responses too (issue 14 item 9: a scan skipping responses went unnoticed) ----

def _clean_request() -> RecordedRequest:
    return RecordedRequest("POST", "/anthropic/v1/messages", headers={"content-type": "application/json"},
                           body={"model": "m", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("where", ["json-body", "sse-event", "header"])
def test_a_secret_only_in_the_response_is_found(where: str) -> None:
    if where == "json-body":
        response = RecordedResponse.from_body(200, {"content-type": "application/json"},
                                              json.dumps({"echo": FAKE["pat"]}).encode())
    elif where == "sse-event":
        response = RecordedResponse.from_body(200, {"content-type": "text/event-stream"},
                                              encode_event(json.dumps({"echo": FAKE["openai"]})))
    else:
        response = RecordedResponse.from_body(200, {"content-type": "application/json",
                                                    "x-echo": FAKE["google"]}, b"{}")
    meta = Metadata(agent="a", surface="anthropic", rerecord="gateway-conformance record --agent a")
    cassette = Cassette(meta, [Interaction(_clean_request(), response)])
    findings = find_secrets(cassette)
    assert findings, f"a token in the response ({where}) was not found: the scan must read responses"
    assert all(".response" in f.location for f in findings), [str(f) for f in findings]
    with pytest.raises(SecretRemains):
        ensure_clean(cassette)
