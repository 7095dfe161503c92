"""Every check asks for the target's model: the wire checks, the SDK checks and the replayed
cassettes (whose recorded model is replaced by the target's model for that agent).

The gateway on 127.0.0.1 serves the documented models except ``databricks-gpt-5-2``, which
it serves as ``team-gpt-9``: as a workspace whose admins named the endpoint themselves. With
``--model codex=team-gpt-9 --model cursor=team-gpt-9`` everything Codex and Cursor do must
pass; without, those checks must fail and name the model they asked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_conformance.gateway.app import DEFAULT_MODELS, GatewayConfig, create_gateway, new_token
from gateway_conformance.server import ServerHandle

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "GWC_MODELS_TOKEN"
OWN_MODEL = "team-gpt-9"
CHECKS = ["conformance/test_openai_sdk.py", "conformance/test_cassettes.py",
          "conformance/test_target_surfaces.py"]


@pytest.fixture(scope="module")
def gwc_gateway() -> Iterator[tuple[str, str]]:
    token = new_token()
    models = [m for m in DEFAULT_MODELS if m != "databricks-gpt-5-2"] + [OWN_MODEL]
    core = create_gateway(GatewayConfig(tokens={token: "t"}, models=models))
    with ServerHandle(core, name="own") as server:
        yield server.url, token


def run(gateway: tuple[str, str], tmp_path: Path, *options: str) -> tuple[int, list[dict[str, Any]]]:
    url, token = gateway
    report = tmp_path / "r.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--conformance", *CHECKS,
               "-k", "codex or cursor or responses or chat or api", "--gateway-url", url,
               "--token-env", TOKEN_ENV, "--conformance-report", str(report), *options]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, TOKEN_ENV: token}, capture_output=True,
                            text=True, timeout=300)
    return result.returncode, json.loads(report.read_text())["results"]


def test_with_the_targets_model_codex_and_cursor_checks_pass(gwc_gateway: tuple[str, str],
                                                             tmp_path: Path) -> None:
    status, results = run(gwc_gateway, tmp_path, "--model", f"codex={OWN_MODEL}",
                          "--model", f"cursor={OWN_MODEL}")
    ran = [r for r in results if r["outcome"] != "skip"]
    replays = [r for r in ran if r["check"] == "gateway.replay.recorded-sessions"]
    sdk = [r for r in ran if r["nodeid"].startswith("conformance/test_openai_sdk.py")]
    assert status == 0, [(r["nodeid"], r["reason"]) for r in ran if r["outcome"] != "pass"]
    assert len(replays) == 6 and len(sdk) >= 6  # codex and cursor: 3 cassettes each


def test_without_it_they_fail_naming_the_model(gwc_gateway: tuple[str, str], tmp_path: Path) -> None:
    status, results = run(gwc_gateway, tmp_path)
    failed = [r for r in results if r["outcome"] == "fail"]
    assert status == 1
    replays = [r for r in failed if r["check"] == "gateway.replay.recorded-sessions"]
    assert len(replays) == 6, [r["nodeid"] for r in failed]
    for r in replays:  # the cassette finding says method, path, status and body
        assert "POST /" in r["evidence"]["longrepr"] and "-> 404: b'" in r["evidence"]["longrepr"], r
    assert any(r["nodeid"].startswith("conformance/test_openai_sdk.py") for r in failed)
