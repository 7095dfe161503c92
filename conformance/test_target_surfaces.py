"""What every gateway must get right on each agent's surface, judged only from the wire.

These checks run against any target (the embedded mock, ``--gateway-url``, a
``--gateway-image``) with no access to its internals: the stream and JSON grammars of
:mod:`gateway_conformance.traffic.shapes`, a bad token and an unknown model answered in the
surface's own error envelope, the model listing, count_tokens, and streams that are not
buffered. Each test is parametrized by agent, so the results file them under the agent
whose requirement they are (SPEC section 4); the model asked for is ``--model AGENT=...``.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway_conformance import surfaces
from gateway_conformance.remote import Answer, RemoteClient
from gateway_conformance.surfaces import Sink
from gateway_conformance.target import Target

# A long answer from any model, and from the mock (its echo responder honours this prompt).
LONG_COUNT = 300
LONG_PROMPT = f"Count from 1 to {LONG_COUNT}, separated by spaces. Output only the numbers."
SHORT_PROMPT = "Reply with the single word: ready."
NO_SUCH_MODEL = "gateway-conformance-no-such-model"
BAD_TOKEN = "gateway-conformance-invalid-token"
# The first event must arrive at least this share of the stream's duration before the last:
# buffered streams arrive all at once (share ~0); a generating model spreads them out.
MIN_SPREAD = 0.25
MIN_LONG_EVENTS = 5  # some upstreams send many tokens per event
# ... and within this long of the request: a stream held back for a long generation is late.
MAX_FIRST_EVENT_MS = 20_000.0
# Events that arrive within this of the one before came in one read: one arrival burst.
BURST_GAP_MS = 1.0
# A stream must arrive in at least this many bursts (or in half as many as it has events, if
# fewer): the long answer is ~36-77 KB of events, so a gateway that flushes every 16 KiB
# delivers it in 3 to 5 bursts, while a stream forwarded as generated arrives event by event.
MIN_BURSTS = 10



def ask(client: RemoteClient, surface: str, model: str, prompt: str, *, stream: bool,
        token: str | None = None, **kw: Any) -> Answer:
    path, body = surfaces.get(surface).request(model, prompt, stream=stream, **kw)
    return client.request("POST", path, json=body, **({"token": token} if token else {}))


def assert_conforms(answer: Answer, surface: str) -> None:
    findings = answer.findings(surface)
    answer.require(not findings, f"the {surfaces.get(surface).protocol} grammar: "
                   + "; ".join(map(str, findings)))


def assert_ok(answer: Answer, what: str) -> None:
    answer.require(answer.status == 200, f"200 for {what}")


def assert_stream(answer: Answer) -> None:
    assert_ok(answer, "a streamed answer")
    answer.require(answer.response.is_stream,
                   f"a text/event-stream answer when asked to stream, got {answer.response.content_type!r}")


def error_message(answer: Answer) -> str:
    """The envelope's message; every surface's envelope has ``error.message`` (shapes checked it)."""
    body = answer.json
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message", "")) if isinstance(error, dict) else ""


@pytest.mark.gwc_check("gateway.generate.json-grammar")
def test_json_grammar(client: RemoteClient, surface: str, model: str) -> None:
    answer = ask(client, surface, model, SHORT_PROMPT, stream=False)
    assert_ok(answer, "a plain answer")
    assert_conforms(answer, surface)


@pytest.mark.gwc_check("gateway.stream.grammar")
def test_stream_grammar(client: RemoteClient, surface: str, model: str) -> None:
    answer = ask(client, surface, model, SHORT_PROMPT, stream=True)
    assert_stream(answer)
    assert_conforms(answer, surface)


def bursts(times: list[float]) -> list[int]:
    """Sizes of the arrival bursts: runs of events each within ``BURST_GAP_MS`` of the one before."""
    sizes: list[int] = []
    for n, t in enumerate(times):
        if n and t - times[n - 1] <= BURST_GAP_MS:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def buffering(times: list[float]) -> str | None:
    """Why these arrival times (ms since the request) show a buffered stream, or None.

    Without access to the upstream the check cannot know when each event was produced
    (upstream mode measures that exactly); it bounds what a client sees instead: the first
    event comes soon, well before the last, and the events come in many separate arrivals.
    """
    first, last = times[0], times[-1]
    sizes = bursts(times)
    needed = min(MIN_BURSTS, (len(times) + 1) // 2)
    if first > MAX_FIRST_EVENT_MS:
        return f"the first event came after {first:.0f} ms (more than {MAX_FIRST_EVENT_MS:.0f} ms)"
    if last - first < MIN_SPREAD * last:
        return (f"the first event came after {first:.0f} ms and the last after {last:.0f} ms: less than "
                f"{MIN_SPREAD:.0%} of the stream between them")
    if len(sizes) < needed:
        return (f"the {len(times)} events arrived in {len(sizes)} bursts (sizes {sizes}), fewer than "
                f"{needed}: the gateway gathers the stream into chunks before it sends them")
    return None


@pytest.mark.gwc_check("gateway.stream.not-buffered")
def test_streaming_not_buffered(client: RemoteClient, surface: str, model: str,
                                record_property: Any) -> None:
    """A long generation arrives as it is generated (SPEC: never buffer a stream): the first
    event soon and well before the last, the events in many separate arrivals."""
    answer = ask(client, surface, model, LONG_PROMPT, stream=True, max_tokens=2048)
    assert_stream(answer)
    times = [rec.t_ms for rec in answer.response.events or [] if rec.event.data is not None]
    answer.require(len(times) >= MIN_LONG_EVENTS, f"at least {MIN_LONG_EVENTS} events for a long "
                                                  f"generation to judge buffering, got {len(times)}")
    record_property("events", str(len(times)))
    record_property("first_event_ms", f"{times[0]:.0f}")
    record_property("last_event_ms", f"{times[-1]:.0f}")
    record_property("arrival_bursts", str(len(bursts(times))))
    why = buffering(times)
    answer.require(why is None, f"a stream sent as generated, not buffered: {why}")


@pytest.mark.gwc_check("gateway.auth.invalid-token")
def test_bad_token_rejected(client: RemoteClient, surface: str, model: str) -> None:
    answer = ask(client, surface, model, SHORT_PROMPT, stream=False, token=BAD_TOKEN)
    answer.require(answer.status == 401, "401 for a bad token")
    assert_conforms(answer, surface)
    sink = Sink()  # the status's own error type or status name, where the protocol names one
    surfaces.get(surface).check_error(answer.json, 401, sink, "error.envelope", exact=True)
    answer.require(not sink.findings, "the surface's error envelope for a bad token: "
                   + "; ".join(map(str, sink.findings)))


@pytest.mark.gwc_check("gateway.errors.unknown-model")
def test_unknown_model(client: RemoteClient, surface: str) -> None:
    answer = ask(client, surface, NO_SUCH_MODEL, SHORT_PROMPT, stream=False)
    answer.require(answer.status in (400, 404), "404 (or 400) for an unknown model")
    assert_conforms(answer, surface)
    answer.require(NO_SUCH_MODEL in error_message(answer), "an error message naming the unknown model")


@pytest.mark.gwc_check("gateway.models.lists-configured-model")
def test_model_listing(client: RemoteClient, surface: str, model: str, gwc_target: Target,
                       record_property: Any) -> None:
    judge = surfaces.get(surface)
    answer = client.request("GET", judge.routes.models)
    assert_ok(answer, "the model listing")
    assert_conforms(answer, surface)
    key = judge.listing[0]
    answer.field(key, requirement=f"a model listing with a {key!r} list")
    listed = judge.listed(answer.json)
    answer.require(judge.listing_prefix + model in listed,
                   f"the listing names {model} (listed: {listed})")
    server = answer.response.headers.get("server")
    if gwc_target.external and server:  # what the gateway says it is, for the report
        name, _, version = server.partition("/")
        record_property("implementation.name", name)
        if version:
            record_property("implementation.version", version)


@pytest.mark.gwc_check("gateway.count-tokens.grows-with-text")  # its agents: conftest.py
def test_count_tokens(client: RemoteClient, surface: str, model: str) -> None:
    """Claude Code and Gemini CLI count before they send; a longer text counts more tokens."""
    judge = surfaces.get(surface)
    build, key = judge.count_tokens_request, judge.count_field
    assert build is not None and key is not None, f"{surface}: the catalogue files count_tokens under it"
    counts = []
    for text in (SHORT_PROMPT, SHORT_PROMPT + " And more words." * 40):
        path, body = build(model, text)
        answer = client.request("POST", path, json=body)
        assert_ok(answer, "count_tokens")
        assert_conforms(answer, surface)
        count = answer.field(key, requirement=f"a count_tokens answer with {key}")
        answer.require(isinstance(count, int), f"{key} is an integer")
        counts.append(count)
    assert 0 < counts[0] < counts[1], f"{path}: token counts {counts} do not grow with the text"
