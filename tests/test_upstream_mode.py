"""The upstream-mode machinery without a third-party gateway: vendor auth forms at the mock,
marker correlation of turns, faults and ledger records, and the per-event timing check
judging a real forwarding proxy (passes) and a real 16 KiB-buffering proxy (fails)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from buffering_proxy import BufferingProxy as Proxy
from gateway_conformance.gateway.app import Gateway, GatewayConfig, create_gateway, new_token
from gateway_conformance.gateway.markers import find_marker, new_marker
from gateway_conformance.remote import RemoteClient
from gateway_conformance.server import ServerHandle
from gateway_conformance.surfaces import anthropic
from gateway_conformance.upstream import real_gateway, timing, wire
from gateway_conformance.upstream.admin import UpstreamAdmin, UpstreamError

TOKEN = new_token()
MODEL = "databricks-claude-opus-4-6"
GEMINI = "databricks-gemini-2-5-flash"
BODY = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def mock() -> Iterator[tuple[Gateway, str]]:
    core = create_gateway(GatewayConfig(tokens={TOKEN: "conformance"}))
    with ServerHandle(core, name="upstream-mock") as server:
        yield core, server.url


@pytest.fixture
def admin(mock: tuple[Gateway, str]) -> Iterator[UpstreamAdmin]:
    core, url = mock
    core.reset()
    client = UpstreamAdmin(url, core.admin_token)
    yield client
    client.close()


# --- auth forms ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "query"), [
    pytest.param({"authorization": f"Bearer {TOKEN}"}, {}, id="bearer"),
    pytest.param({"x-api-key": TOKEN}, {}, id="x-api-key"),
    pytest.param({"x-goog-api-key": TOKEN}, {}, id="x-goog-api-key"),
    pytest.param({}, {"key": TOKEN}, id="query-key"),
])
def test_mock_accepts_the_vendors_auth_forms(mock: tuple[Gateway, str], headers: dict[str, str],
                                             query: dict[str, str]) -> None:
    """What a gateway sends its provider: Anthropic's x-api-key, Google's header or ``?key=``."""
    _, url = mock
    anthropic = httpx.post(f"{url}/anthropic/v1/messages", json=BODY, headers=headers, params=query)
    gemini = httpx.post(f"{url}/gemini/v1beta/models/{GEMINI}:generateContent", headers=headers, params=query,
                        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert (anthropic.status_code, gemini.status_code) == (200, 200), (anthropic.text, gemini.text)


@pytest.mark.parametrize(("headers", "query"), [
    pytest.param({"x-api-key": "wrong"}, {}, id="x-api-key"),
    pytest.param({}, {"key": "wrong"}, id="query-key"),
    pytest.param({"authorization": "Bearer wrong", "x-api-key": TOKEN}, {}, id="bearer-wins"),
    pytest.param({}, {}, id="none"),
])
def test_mock_refuses_a_wrong_or_missing_key(mock: tuple[Gateway, str], headers: dict[str, str],
                                             query: dict[str, str]) -> None:
    _, url = mock
    answer = httpx.post(f"{url}/anthropic/v1/messages", json=BODY, headers=headers, params=query)
    assert answer.status_code == 401, answer.text


# --- marker correlation -------------------------------------------------------------------------

def ask(url: str, prompt: str, *, stream: bool = False) -> httpx.Response:
    path, body = anthropic.request(MODEL, prompt, stream=stream)
    return httpx.post(f"{url}/anthropic{path}", json=body, headers={"x-api-key": TOKEN})


def test_markers_are_found_in_a_body() -> None:
    marker = new_marker()
    assert find_marker(f'{{"text": "before {marker} after"}}'.encode()) == marker
    assert find_marker(b'{"text": "gwc-mark-nothex0123456789"}') is None


def test_turns_and_faults_fire_only_for_their_marker(mock: tuple[Gateway, str], admin: UpstreamAdmin) -> None:
    """Queued for B first, they are not taken by A's request nor by an unmarked one."""
    _, url = mock
    a, b = new_marker(), new_marker()
    admin.script(b, text="for b")
    admin.fault(b, status=503, message=f"{b} overloaded")
    assert "Echo:" in ask(url, f"{a} first").json()["content"][0]["text"]
    assert ask(url, "no marker").status_code == 200
    refused = ask(url, f"{b} second")
    assert refused.status_code == 503 and b in refused.json()["error"]["message"]
    assert ask(url, f"{b} third").json()["content"][0]["text"] == "for b"
    assert [r["status"] for r in admin.records(a)] == [200]
    assert [r["status"] for r in admin.records(b)] == [503, 200]
    assert all(r["marker"] == b for r in admin.records(b))


def test_probe_headers_are_recorded(mock: tuple[Gateway, str], admin: UpstreamAdmin) -> None:
    _, url = mock
    marker = new_marker()
    path, body = anthropic.request(MODEL, f"{marker} hi", stream=False)
    httpx.post(f"{url}/anthropic{path}", json=body, headers={"x-api-key": TOKEN, "x-gwc-probe": marker,
                                                             "x-other": "not kept"})
    (record,) = admin.records(marker)
    assert record["headers"]["x-gwc-probe"] == marker and "x-other" not in record["headers"]
    assert "x-api-key" not in record["headers"]


def test_admin_failure_is_one_sentence(mock: tuple[Gateway, str]) -> None:
    _, url = mock
    with pytest.raises(UpstreamError, match=r"GET .*/_admin/ledger -> 401: .*admin_token_env"):
        UpstreamAdmin(url, "not-the-token").records(new_marker())


# --- timing: a forwarding proxy passes, a buffering one fails -----------------------------------

def measure(url: str, admin: UpstreamAdmin) -> timing.Fidelity:
    """The timing check's measurement, through whatever serves ``url``."""
    marker, text = new_marker(), timing.paced_text(30)
    admin.script(marker, text=text)
    admin.fault(marker, delay_between_events=0.04)
    path, body = anthropic.request(MODEL, f"{marker} hi", stream=True)
    with RemoteClient(url + "/anthropic", None) as client:
        sent = time.time()
        answer = client.request("POST", path, json=body, headers={"x-api-key": TOKEN})
    (record,) = admin.wait_records(marker)
    produced = [t + record["wall_minus_perf"] for t in record["produced_at"]]
    departures = timing.upstream_departures("anthropic", body, {}, text, produced)
    arrivals = timing.first_seen((sent + ms / 1000, data) for ms, data in wire.stream_data(answer))
    return timing.fidelity(departures, arrivals)


@pytest.mark.parametrize(("buffer", "buffers"), [pytest.param(None, False, id="direct"),
                                                 pytest.param(0, False, id="forwarding-proxy"),
                                                 pytest.param(16 * 1024, True, id="16KiB-buffer")])
def test_timing_check_catches_a_buffering_proxy(mock: tuple[Gateway, str], admin: UpstreamAdmin,
                                                buffer: int | None, buffers: bool) -> None:
    _, url = mock
    if buffer is None:
        result = measure(url, admin)
    else:
        with ServerHandle(Proxy(url, buffer), name="proxy") as proxy:
            result = measure(proxy.url, admin)
    assert not result.missing and len(result.added_ms) == 30
    assert bool(result.late()) is buffers, f"added ms per word: {result.added_ms}"
    if buffers:  # the first word waited for (nearly) the whole 1.2 s stream
        assert result.worst[1] > 1000


# --- ./tasks real-gateways: the tally and the fail-closed start ---------------------------------

def test_real_gateway_tally_files_expected_and_unclaimed() -> None:
    results = [{"outcome": "pass"}, {"outcome": "xpass"}, {"outcome": "fail"}, {"outcome": "error"},
               {"outcome": "xfail"}, {"outcome": "skip", "reason": "not claimed: gemini-cli"},
               {"outcome": "skip", "reason": "needs a workspace URL"}]
    counts = real_gateway.count(results)
    assert counts.line("gw", "1.2") == "gw 1.2: 2 passed, 3 failed (1 expected), 1 skipped, 1 not claimed"
    assert counts.claimed == 6


def test_real_gateway_refuses_another_version_than_the_profiles(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A pinned profile run against another installed version would credit the wrong release."""
    (tmp_path / "gw.toml").write_text('name = "gw"\nversion = "1.0"\nurl = "http://127.0.0.1:9"\n'
                                      '[upstream]\nurl = "http://127.0.0.1:9"\n')
    (tmp_path / "launch.toml").write_text(
        'profile = "gw.toml"\ncommand = ["false"]\nready = "/"\nupstream_token_env = "T"\n'
        f'version = ["{sys.executable}", "-c", "print(\'2.0\')"]\n')
    assert real_gateway.main([str(tmp_path / "launch.toml")]) == 2
    assert capsys.readouterr().out.strip() == (
        "real-gateways: gw 2.0 is installed, the profile gw.toml says 1.0: reinstall (gw is pinned) "
        "or update the profile and its expected failures")
