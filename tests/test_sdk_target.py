"""The official SDK checks honour the target profile and fail in sentences.

The "strict gateway" on 127.0.0.1 serves each surface under its own path with its own
credential form and a required header, as real gateways do (Anthropic at ``/claude`` with
``x-api-key`` and ``x-team``, Responses at ``/oai/v1`` with a bearer and ``x-tenant``, Chat at
``/chat/v1``, Gemini at ``/gem`` with ``?key=``); anything else is a 401. Behind it is the
mock gateway (the real one, on its own port). The SDK checks run against it through a
profile in a nested pytest: every one that runs must pass, and what reached the wire is
exactly the profile's form (no SDK default credential, no placeholder).

The "odd gateway" answers every SDK request with a well-formed but wrong body: every SDK
check must fail, with the exchange, the requirement and the body, never an exception name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.sdk_http import PLACEHOLDER
from gateway_conformance.server import ServerHandle

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "GWC_SDK_PROFILE_TOKEN"
SDK_CHECKS = ["conformance/test_anthropic_sdk.py", "conformance/test_openai_sdk.py",
              "conformance/test_gemini_sdk.py"]
# gateway path prefix -> (mock prefix, auth scheme, required header)
SURFACES = {"/claude": ("/anthropic", "x-api-key", ("x-team", "platform")),
            "/oai/v1": ("/openai/v1", "bearer", ("x-tenant", "t1")),
            "/chat/v1": ("/cursor/v1", "bearer", None),
            "/gem": ("/gemini", "query-key", None)}
PROFILE = """
name = "strict"
version = "1"
url = "{url}"
token_env = "{env}"

[surfaces.anthropic]
base_path = "/claude"
auth = "x-api-key"
headers = {{ "x-team" = "platform" }}

[surfaces.openai]
base_path = "/oai/v1"
auth = "bearer"
headers = {{ "x-tenant" = "t1" }}

[surfaces.cursor]
base_path = "/chat/v1"

[surfaces.gemini]
base_path = "/gem"
auth = "query-key"

[claims]
profiles = ["claude-code", "codex", "cursor", "gemini-cli"]
"""
EXCEPTION_NAMES = re.compile(r"\b(\w+Error|\w+Exception|Traceback|assert )\b")
SENTENCE = re.compile(r"^(GET|POST) /\S* -> (\d{3}|no answer): required .+; body b['\"]", re.S)


def credential(scheme: str, request: Request) -> str | None:
    """The token in exactly the scheme's form, or None (a second form beside it counts as wrong)."""
    forms = {"bearer": request.headers.get("authorization", "").removeprefix("Bearer ") or None,
             "x-api-key": request.headers.get("x-api-key"), "query-key": request.query_params.get("key")}
    given = {name: value for name, value in forms.items() if value}
    return given.get(scheme) if set(given) == {scheme} else None


@pytest.fixture(scope="module")
def strict_gateway() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    token = new_token()
    seen: list[dict[str, Any]] = []
    with ServerHandle(create_gateway(GatewayConfig(tokens={token: "t"})), name="mock") as mock:
        async def forward(request: Request) -> Response:
            path = request.url.path
            prefix = next((p for p in SURFACES if path.startswith(p + "/")), None)
            if prefix is None:
                return JSONResponse({"error": "no such route"}, status_code=404)
            upstream, scheme, header = SURFACES[prefix]
            seen.append({"prefix": prefix, "headers": dict(request.headers), "query": str(request.url.query)})
            wrong_header = header and request.headers.get(header[0]) != header[1]
            if credential(scheme, request) != token or wrong_header:
                return JSONResponse({"error": "wrong credential form"}, status_code=401)
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "key"]
            drop = {"host", "authorization", "x-api-key", "x-goog-api-key", "content-length"}
            headers = {k: v for k, v in request.headers.items() if k not in drop}
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.request(request.method, mock.url + upstream + path[len(prefix):],
                                              params=query, content=await request.body(),
                                              headers={**headers, "authorization": f"Bearer {token}"})
            keep = {k: v for k, v in answer.headers.items()
                    if k not in ("content-length", "content-encoding", "transfer-encoding")}
            return Response(answer.content, status_code=answer.status_code, headers=keep)
        app = Starlette(routes=[Route("/{rest:path}", forward, methods=["GET", "POST"])])
        with ServerHandle(app, name="strict") as server:
            yield server.url, token, seen


def run(url: str, token: str, tmp_path: Path, *checks: str) -> tuple[int, list[dict[str, Any]], str]:
    profile = tmp_path / "strict.toml"
    profile.write_text(PROFILE.format(url=url, env=TOKEN_ENV))
    report = tmp_path / "r.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--conformance", *checks,
               "--target", str(profile), "--conformance-report", str(report)]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, TOKEN_ENV: token}, capture_output=True,
                            text=True, timeout=300)
    return result.returncode, json.loads(report.read_text())["results"], result.stdout


def test_sdk_checks_send_the_profiles_auth_and_headers(strict_gateway: tuple[str, str, list[dict[str, Any]]],
                                                       tmp_path: Path) -> None:
    url, token, seen = strict_gateway
    status, results, out = run(url, token, tmp_path, *SDK_CHECKS)
    ran = [r for r in results if r["outcome"] != "skip"]
    assert status == 0, [(r["nodeid"], r["reason"]) for r in ran if r["outcome"] != "pass"] or out[-2000:]
    assert len(ran) >= 10
    for prefix in SURFACES:  # every surface was asked, each in its form, never with the placeholder
        mine = [s for s in seen if s["prefix"] == prefix]
        assert mine, prefix
        assert not any(PLACEHOLDER in json.dumps(s) for s in mine)
    gemini = [s for s in seen if s["prefix"] == "/gem"]
    assert all("key=" in s["query"] and "x-goog-api-key" not in s["headers"] for s in gemini)


@pytest.fixture(scope="module")
def odd_gateway() -> Iterator[tuple[str, str]]:
    """A gateway that takes any credential and answers 200 ``{"unexpected": true}``, except
    for one error that is neither the vendor's envelope nor JSON."""
    async def answer(request: Request) -> Response:
        if request.url.path.endswith("/models"):
            return Response(b"<html>gateway error page</html>", status_code=502, media_type="text/html")
        return JSONResponse({"unexpected": True})
    app = Starlette(routes=[Route("/{rest:path}", answer, methods=["GET", "POST"])])
    with ServerHandle(app, name="odd-sdk") as server:
        yield server.url, "odd-token-0123456789"


def test_sdk_check_failures_on_odd_answers_are_sentences(odd_gateway: tuple[str, str],
                                                         tmp_path: Path) -> None:
    url, token = odd_gateway
    status, results, out = run(url, token, tmp_path, *SDK_CHECKS)
    failed = [r for r in results if r["outcome"] in ("fail", "error")]
    ran = [r for r in results if r["outcome"] != "skip"]
    assert status == 1 and len(failed) >= 10, out[-2000:]
    assert failed == ran, [r["nodeid"] for r in ran if r not in failed]
    for r in failed:
        text = r["evidence"]["longrepr"] or ""
        assert SENTENCE.match(text), (r["nodeid"], text)
        assert not EXCEPTION_NAMES.search(text), (r["nodeid"], text)
        assert "required " in text and token not in text
    models = [r for r in failed if "models" in r["nodeid"]]
    assert models and all("-> 502: required" in r["evidence"]["longrepr"] and "gateway error page"
                          in r["evidence"]["longrepr"] for r in models)
