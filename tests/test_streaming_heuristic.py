"""``streaming-not-buffered`` without an upstream: a gateway that flushes every 16 KiB fails.

It used to pass such a gateway: only a stream held back whole was caught (first and last
event together). The check now also counts arrival bursts and bounds the first event. The
gateway here is a real reverse proxy on 127.0.0.1 in front of the mock, holding the answer
back until 16 KiB gathered; the same proxy forwarding every chunk at once must pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from buffering_proxy import BufferingProxy
from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.server import ServerHandle
from nested_runs import check_gateway


@pytest.fixture(scope="module")
def mock() -> Iterator[tuple[str, str]]:
    token = new_token()
    with ServerHandle(create_gateway(GatewayConfig(tokens={token: "t"})), name="mock") as server:
        yield server.url, token


def judge(url: str, token: str, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    report = tmp_path / "r.json"
    result = check_gateway(url, token, report, "conformance/test_target_surfaces.py",
                           "-k", "streaming_not_buffered")
    return result.returncode, json.loads(report.read_text())["results"]


@pytest.mark.parametrize(("buffer", "fails"), [pytest.param(0, False, id="forwarding-proxy"),
                                               pytest.param(16 * 1024, True, id="16KiB-buffer")])
def test_a_gateway_that_flushes_every_16_kib_fails(mock: tuple[str, str], tmp_path: Path, buffer: int,
                                                   fails: bool) -> None:
    url, token = mock
    with ServerHandle(BufferingProxy(url, buffer), name="proxy") as proxy:
        status, results = judge(proxy.url, token, tmp_path)
    assert len(results) == 4  # one per agent
    outcomes = {r["agent"]: r["outcome"] for r in results}
    assert set(outcomes.values()) == {"fail" if fails else "pass"}, [r["reason"] for r in results]
    assert status == (1 if fails else 0)
    for r in results:
        assert int(r["evidence"]["facts"]["arrival_bursts"]) >= 1
        if fails:
            assert "bursts (sizes" in r["reason"] and "fewer than 10" in r["reason"], r["reason"]
            assert r["reason"].startswith("POST /"), r["reason"]
