"""No check crashes on an answer it did not expect: every failure is one sentence with the
method, the path, the status, the first bytes of the body and the requirement.

A deliberately odd gateway on 127.0.0.1 answers everything with well-formed HTTP carrying
the wrong bodies: ``200 {"unexpected": true}`` for any request, plain text to streams,
and ``401 {"error": "denied"}`` (an error that is a string, where the checks used to do
``error["type"]`` and die with ``TypeError``/``KeyError``). The any-target checks run
against it in a nested pytest; every one of them must fail, and say why in a sentence.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway_conformance.server import ServerHandle

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "GWC_ODD_TOKEN"
TOKEN = "odd-gateway-token-123456"
EXCEPTION_NAMES = re.compile(r"\b(KeyError|TypeError|AttributeError|IndexError|ValueError|DecodeError|"
                             r"JSONDecodeError|Traceback)\b")
SENTENCE = re.compile(r"^(GET|POST|HEAD) /\S* -> \d{3}: required \S")  # the reason (clipped at 300)
FULL = re.compile(r"^(GET|POST|HEAD) /\S* -> \d{3}: required .+; body b['\"]", re.S)  # the whole message


@pytest.fixture(scope="module")
def odd_gateway() -> Iterator[str]:
    async def answer(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "denied"}, status_code=401)
        if "stream" in request.url.path or b'"stream":true' in (await request.body()).replace(b" ", b""):
            return PlainTextResponse("this is not a stream")
        return JSONResponse({"unexpected": True})
    app = Starlette(routes=[Route("/{rest:path}", answer, methods=["GET", "POST", "HEAD"])])
    with ServerHandle(app, name="odd") as server:
        yield server.url


def test_every_failure_on_odd_bodies_is_a_sentence(odd_gateway: str, tmp_path: Path) -> None:
    report = tmp_path / "odd.json"
    checks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "conformance").glob("test_target_*.py"))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--conformance", *checks,
               "--gateway-url", odd_gateway, "--workspace-url", odd_gateway, "--token-env", TOKEN_ENV,
               "--conformance-report", str(report)]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, TOKEN_ENV: TOKEN}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-3000:]
    results = json.loads(report.read_text())["results"]
    failed = [r for r in results if r["outcome"] in ("fail", "error")]
    ran = [r for r in results if r["outcome"] != "skip"]
    # {"unexpected": true} is a valid OTLP/JSON export response (no partialSuccess): a true pass
    judged = [r for r in ran if "test_json_export" not in r["nodeid"]]
    assert len(judged) >= 40 and failed == judged, [r["nodeid"] for r in judged if r not in failed]
    for r in failed:
        text = r["reason"] or ""
        assert not EXCEPTION_NAMES.search(text + (r["evidence"]["longrepr"] or "")), (r["nodeid"], text)
        assert SENTENCE.match(text), (r["nodeid"], text)
        assert FULL.match(r["evidence"]["longrepr"] or ""), (r["nodeid"], r["evidence"]["longrepr"])
