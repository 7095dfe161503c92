"""What reaches the provider behind the gateway, and what comes back from it (upstream mode).

SPEC section 4: a gateway forwards the agent's request to the provider unchanged (its
headers, its body) and returns the provider's answer unchanged (its text, usage, errors,
``Retry-After``), streams it as it is generated and keeps concurrent streams apart. Only the
provider can see the first half, so these checks steer the provider and read its ledger
(:mod:`gateway_conformance.upstream`): on the embedded mock, or through a real gateway whose
target profile names its ``[upstream]``. Each check puts its own correlation marker in its
prompt, so it only ever steers and reads its own requests.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gateway_conformance import surfaces
from gateway_conformance.gateway.markers import new_marker
from gateway_conformance.remote import Answer, RemoteClient, RemoteError
from gateway_conformance.upstream import timing, wire
from gateway_conformance.upstream.admin import UpstreamAdmin, received

pytestmark = pytest.mark.gwc_upstream

PROBE_HEADER = "x-gwc-probe"
ERROR_STATUSES = (400, 503)
CUT_AFTER = 3
RETRY_AFTER = 7
USAGE = (1234, 56)
CONCURRENT = 4
PACED_WORDS = 40
PACE_SECONDS = 0.05
_TAGGED = re.compile(r"(s[0-9a-f]{6})x(\d{2})")


def send(client: RemoteClient, surface: str, model: str, prompt: str, *, stream: bool = False,
         headers: dict[str, str] | None = None) -> Answer:
    path, body = surfaces.get(surface).request(model, prompt, stream=stream)
    return client.request("POST", path, json=body, headers=headers)


def where(answer: Answer) -> str:
    return f"{answer.method} {answer.path} -> {answer.status}"


def assert_ok(answer: Answer) -> None:
    assert answer.status == 200, f"{where(answer)}: {wire.first_bytes(answer)} (the upstream answered 200)"


@pytest.mark.gwc_check("gateway.forwarding.request-headers")
def test_request_headers_reach_upstream(client: RemoteClient, surface: str, model: str,
                                        gwc_upstream: UpstreamAdmin) -> None:
    """The agent's protocol and session headers, and a custom one, arrive byte for byte."""
    marker = new_marker()
    # The headers the surface's agents send that their provider reads (surfaces/<surface>.py),
    # plus one custom header: a gateway must not filter what it does not know.
    sent = {**surfaces.get(surface).agent_headers, PROBE_HEADER: marker}
    answer = send(client, surface, model, f"{marker} Say ok.", headers=sent)
    assert_ok(answer)
    got = received(gwc_upstream.wait_records(marker), marker)["headers"]
    changed = {name: got.get(name) for name, value in sent.items() if got.get(name) != value}
    assert not changed, (f"{answer.method} {answer.path}: these request headers did not reach the upstream "
                         f"unchanged (header: what arrived): {changed}; sent {sent}")


@pytest.mark.gwc_check("gateway.forwarding.body-round-trip")
def test_body_round_trip(client: RemoteClient, surface: str, model: str, gwc_upstream: UpstreamAdmin) -> None:
    """The prompt reaches the provider intact and its answer comes back intact (the mock echoes)."""
    marker = new_marker()
    prompt = f'{marker} naïve café, 東京, "quoted", back\\slash, tab\tend.'
    answer = send(client, surface, model, prompt)
    assert_ok(answer)
    received(gwc_upstream.wait_records(marker), marker)
    got = surfaces.get(surface).text(answer.json)
    assert got == f"Echo: {prompt}", (f"{where(answer)}: the upstream echoed the prompt, the client got "
                                      f"{got!r} instead of {'Echo: ' + prompt!r}")


@pytest.mark.gwc_check("gateway.errors.upstream-status-passthrough")
@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_upstream_error_unmodified(client: RemoteClient, surface: str, model: str,
                                   gwc_upstream: UpstreamAdmin,
                                   status: int) -> None:
    """The provider's error reaches the agent as sent: status, envelope, wording (agents match on it)."""
    marker = new_marker()
    message = f"{marker}: conformance probe, the upstream refused this request"
    gwc_upstream.fault(marker, status=status, message=message)
    answer = send(client, surface, model, f"{marker} Say ok.")
    assert answer.status == status, (f"{where(answer)}: {wire.first_bytes(answer)}; the upstream answered "
                                     f"{status}, the gateway must return that status")
    findings = answer.findings(surface)
    assert not findings, f"{where(answer)}: not the {surface} error envelope: " + "; ".join(
        map(str, findings))
    got = wire.error_message(answer.json)
    assert got == message, (f"{where(answer)}: error.message is {got!r}, the upstream sent {message!r}: "
                            f"the gateway rewrote the upstream's error")


@pytest.mark.gwc_check("gateway.faults.cut-stream-not-clean")
def test_cut_stream_is_a_client_error(client: RemoteClient, surface: str, model: str,
                                      gwc_upstream: UpstreamAdmin) -> None:
    """A stream the provider cuts must not reach the agent as a complete answer."""
    marker = new_marker()
    gwc_upstream.script(marker, text=timing.paced_text(20))
    gwc_upstream.fault(marker, cut_after_events=CUT_AFTER)
    try:
        answer = send(client, surface, model, f"{marker} Say ok.", stream=True)
    except RemoteError as exc:
        assert exc.kind in ("protocol", "transport"), str(exc)
        return  # the connection broke: the client knows
    datas = [data for _, data in wire.stream_data(answer)]
    if answer.status >= 400 or wire.in_band_error(datas) is not None:
        return  # an error status or an error event: the client knows
    last = datas[-1][:160] if datas else ""
    raise AssertionError(f"{where(answer)}: the upstream cut its stream after {CUT_AFTER} events, the "
                         f"gateway ended it cleanly ({len(datas)} events, last {last!r}): the agent "
                         f"cannot tell a truncated answer from a complete one")


@pytest.mark.gwc_check("gateway.limits.retry-after-passthrough")
def test_retry_after_passes_through(client: RemoteClient, surface: str, model: str,
                                    gwc_upstream: UpstreamAdmin) -> None:
    """The provider's 429 and its Retry-After reach the agent, whose retry waits that long."""
    marker = new_marker()
    gwc_upstream.fault(marker, status=429, retry_after=RETRY_AFTER)
    answer = send(client, surface, model, f"{marker} Say ok.")
    assert answer.status == 429, (f"{where(answer)}: {wire.first_bytes(answer)}; the upstream answered 429 "
                                  f"with Retry-After: {RETRY_AFTER}")
    got = answer.response.headers.get("retry-after")
    assert got == str(RETRY_AFTER), (f"{where(answer)}: Retry-After is {got!r}, the upstream sent "
                                     f"{RETRY_AFTER!r}")


@pytest.mark.gwc_check("gateway.usage.upstream-usage-unchanged")
@pytest.mark.parametrize("stream", [pytest.param(False, id="json"), pytest.param(True, id="stream")])
def test_usage_is_the_upstreams(client: RemoteClient, surface: str, model: str, gwc_upstream: UpstreamAdmin,
                                stream: bool) -> None:
    """The token counts the agent sees (and bills by) are the ones the provider reported."""
    marker = new_marker()
    gwc_upstream.script(marker, text="Counted.", input_tokens=USAGE[0], output_tokens=USAGE[1])
    answer = send(client, surface, model, f"{marker} Say ok.", stream=stream)
    assert_ok(answer)
    judge = surfaces.get(surface)
    got = (judge.stream_usage([data for _, data in wire.stream_data(answer)]) if stream
           else judge.usage(answer.json))
    assert got == USAGE, (f"{where(answer)}: usage (input, output) is {got}, the upstream reported {USAGE}: "
                          f"{wire.first_bytes(answer)}")


@pytest.mark.gwc_check("gateway.faults.dropped-connection")
def test_dropped_connection_is_an_error(client: RemoteClient, surface: str, model: str,
                                        gwc_upstream: UpstreamAdmin) -> None:
    """A provider that drops the connection unanswered is an error to the agent (a 5xx or a broken
    connection), never an empty success, and the gateway serves the next request."""
    marker = new_marker()
    gwc_upstream.fault(marker, drop_connection=True)
    try:
        answer = send(client, surface, model, f"{marker} Say ok.")
        assert answer.status >= 500, (f"{where(answer)}: the upstream dropped the connection without "
                                      f"answering, the gateway must answer 5xx: {wire.first_bytes(answer)}")
    except RemoteError as exc:
        assert exc.kind in ("protocol", "transport"), str(exc)
    after = send(client, surface, model, f"{new_marker()} Say ok.")
    assert after.status == 200, (f"{where(after)}: after one dropped upstream connection the next request "
                                 f"failed: {wire.first_bytes(after)}")


@pytest.mark.gwc_check("gateway.stream.concurrent-not-mixed")
def test_concurrent_streams_not_mixed(client: RemoteClient, surface: str, model: str,
                                      gwc_upstream: UpstreamAdmin) -> None:
    """Streams in flight at once each get their own words, all of them, in order."""
    markers = [new_marker() for _ in range(CONCURRENT)]
    tags = [f"s{marker[-6:]}" for marker in markers]
    for marker, tag in zip(markers, tags, strict=True):
        gwc_upstream.script(marker, text=" ".join(f"{tag}x{n:02d}" for n in range(12)))
        gwc_upstream.fault(marker, delay_between_events=0.02)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(lambda m: send(client, surface, model, f"{m} Say ok.", stream=True), markers))
    for tag, answer in zip(tags, answers, strict=True):
        assert_ok(answer)
        words = [word for _, data in wire.stream_data(answer) for word in _tagged(data, tags)]
        foreign = sorted({w.split("x")[0] for w in words} - {tag})
        assert not foreign, f"{where(answer)}: the stream for {tag} carried words of {foreign}: streams mixed"
        first = list(dict.fromkeys(words))
        expected = [f"{tag}x{n:02d}" for n in range(12)]
        assert first == expected, f"{where(answer)}: the stream for {tag} carried {first}, not {expected}"


def _tagged(data: str, tags: list[str]) -> list[str]:
    """The concurrent check's words (``<tag>x<NN>``) in one event, in order."""
    return [f"{tag}x{n}" for tag, n in _TAGGED.findall(data) if tag in tags]


@pytest.mark.gwc_check("gateway.stream.per-event-delay")
def test_stream_delay_per_event(client: RemoteClient, surface: str, model: str, gwc_upstream: UpstreamAdmin,
                                record_property: Any) -> None:
    """Each event reaches the agent as soon as the provider sent it: the delay the gateway adds is
    measured per event, so a gateway that buffers (whole stream, or every 16 KiB) fails."""
    marker = new_marker()
    text = timing.paced_text(PACED_WORDS)
    gwc_upstream.script(marker, text=text)
    gwc_upstream.fault(marker, delay_between_events=PACE_SECONDS)
    path, body = surfaces.get(surface).request(model, f"{marker} Say ok.", stream=True)
    sent_wall = time.time()
    answer = client.request("POST", path, json=body)
    assert_ok(answer)
    record = received(gwc_upstream.wait_records(marker), marker)
    produced = [t + record["wall_minus_perf"] for t in record["produced_at"]]
    departures = timing.upstream_departures(surface, body, {"model": model}, text, produced)
    arrivals = timing.first_seen((sent_wall + ms / 1000, data) for ms, data in wire.stream_data(answer))
    result = timing.fidelity(departures, arrivals)
    assert not result.missing, (f"{where(answer)}: words {list(result.missing)[:10]} of the upstream's "
                                f"stream never arrived")
    word, worst = result.worst
    record_property("added_ms_median", f"{result.median_ms:.1f}")
    record_property("added_ms_max", f"{worst:.1f}")
    late = result.late()
    assert not late, (f"{where(answer)}: {len(late)} of {PACED_WORDS} events reached the client more than "
                      f"{timing.MAX_ADDED_MS:.0f} ms after the upstream sent them (worst: w{word:04d}, "
                      f"+{worst:.0f} ms; median +{result.median_ms:.0f} ms): the gateway holds the stream "
                      f"back")
