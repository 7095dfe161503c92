"""Shape checks on raw HTTP answers: what a gateway must get right whatever the model says.

The rules of each protocol live in its surface module (:mod:`gateway_conformance.surfaces`),
read from the published API references and from what the agents need, not from the mock's
code: they judge the mock and real gateways alike. This module applies them to one answer:
which endpoint it came from, stream or JSON, success or error envelope, plus what is the same
on every surface (content types, a cut stream, ``Retry-After``). Every check returns a list
of :class:`Finding` instead of raising, so a run against a gateway reports all that is wrong
with it at once. Entry points:

- :func:`check_raw` - one raw answer (status, headers, body bytes) to a surface path;
- :func:`check_response` - the same on an already parsed :class:`RecordedResponse`;
- :func:`compare` - a replayed answer against its recording: status, content type, and the
  grammar of the new answer (differences in what the model said are informational).
"""

from __future__ import annotations

import email.utils
import re

from gateway_conformance import surfaces
from gateway_conformance.surfaces.base import EndpointKind, Finding, Sink, is_int, parse
from gateway_conformance.traffic.cassette import RecordedRequest, RecordedResponse

__all__ = ["Finding", "check_raw", "check_response", "compare", "endpoint_kind", "retry_after_valid"]


def endpoint_kind(surface: str, method: str, path: str) -> EndpointKind:
    """What a request path asks for; the surface prefix may be anything before it."""
    return surfaces.get(surface).routes.kind(method, path)


# ---- entry points ------------------------------------------------------------------------------

def check_raw(surface: str, method: str, path: str, status: int, headers: dict[str, str],
              body: bytes) -> list[Finding]:
    """Shape findings for one raw answer, as a real gateway sent it."""
    return check_response(surface, method, path,
                          RecordedResponse.from_body(status, {k.lower(): v for k, v in headers.items()},
                                                     body))


def check_response(surface: str, method: str, path: str, resp: RecordedResponse) -> list[Finding]:
    if surface not in surfaces.SURFACES:
        known = ", ".join(surfaces.SURFACES)
        return [Finding("error", "surface", f"unknown surface {surface!r} (known: {known})")]
    judge = surfaces.get(surface)
    sink = Sink()
    kind = judge.routes.kind(method, path)
    if kind == "probe" or resp.status in (204, 304):
        return sink.findings
    if resp.status >= 400:
        _check_error(judge, resp, sink)
        return sink.findings
    if resp.is_stream:
        if not sink.require(kind == "generate", "stream", f"{path} answered with an event stream"):
            return sink.findings
        # Comment-only events (keep-alives) carry no data and belong to no grammar.
        events = [(e.event.event, e.event.data) for e in resp.events or [] if e.event.data is not None]
        if resp.tail.strip():
            sink.fail("stream.cut", f"stream ended inside an event: {resp.tail[:80]!r}")
        judge.check_stream(events, sink)
        return sink.findings
    media = resp.content_type.split(";")[0].strip().lower()
    if not sink.require(media == "application/json", "content-type",
                        f"expected application/json, got {resp.content_type or 'none'!r}"):
        return sink.findings
    if not sink.require(isinstance(resp.body, dict), "json", "body is not a JSON object"):
        return sink.findings
    if kind == "generate":
        judge.check_json(resp.body, sink)
    elif kind == "models":
        judge.check_models(resp.body, sink)
    elif kind == "count_tokens" and judge.count_field:
        sink.require(is_int(resp.body.get(judge.count_field)), "count_tokens",
                     f"{judge.count_field} missing or not an integer")
    return sink.findings


def compare(surface: str, request: RecordedRequest, recorded: RecordedResponse, actual: RecordedResponse,
            *, injected_fault: bool = False, cassette: str = "", index: int | None = None) -> list[Finding]:
    """A replayed answer against its recording, by shape."""
    sink = Sink()
    if actual.status != recorded.status:
        if injected_fault and actual.status < 400:
            sink.fail("status", f"recorded {recorded.status} was an injected fault; got {actual.status}",
                      "info")
        else:
            sink.fail("status", f"got {actual.status}, recorded {recorded.status}")
    elif actual.status < 400 and request.method != "HEAD":  # a HEAD has no body to type
        rec_media = recorded.content_type.split(";")[0].strip().lower()
        act_media = actual.content_type.split(";")[0].strip().lower()
        sink.require(rec_media == act_media, "content-type",
                     f"got {act_media or 'none'!r}, recorded {rec_media or 'none'!r}")
        if recorded.is_stream and actual.is_stream:
            missing = _kinds(recorded) - _kinds(actual)
            if missing:
                sink.fail("events", f"recorded event kinds not seen this time: {sorted(missing)}", "info")
    sink.findings.extend(check_response(surface, request.method, request.path, actual))
    return [Finding(f.severity, f.check, f.message, cassette, index) for f in sink.findings]


def _kinds(resp: RecordedResponse) -> set[str]:
    kinds = set()
    for rec in resp.events or []:
        data = parse(rec.event.data)
        kinds.add(rec.event.event or (data.get("type") if isinstance(data, dict) else None) or "data")
    return kinds


# ---- errors and listings ------------------------------------------------------------------------

def _check_error(judge: surfaces.Surface, resp: RecordedResponse, sink: Sink) -> None:
    media = resp.content_type.split(";")[0].strip().lower()
    if not sink.require(media == "application/json", "error.content-type",
                        f"error {resp.status} answered as {resp.content_type or 'no content type'!r}"):
        return
    if sink.require(isinstance(resp.body, dict), "error.envelope", f"error {resp.status} body is not JSON"):
        judge.check_error(resp.body, resp.status, sink, "error.envelope")
    if resp.status == 429:
        retry = resp.headers.get("retry-after")
        if retry is not None:
            sink.require(retry_after_valid(retry), "error.retry-after",
                         f"Retry-After {retry!r} is neither seconds nor an HTTP date (RFC 9110 10.2.3)")


_DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def retry_after_valid(value: str) -> bool:
    """RFC 9110 10.2.3: ``delay-seconds`` (digits; a decimal fraction is tolerated, some
    gateways send one and every SDK here parses it) or an IMF-fixdate ending in ``GMT``."""
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return True
    if not text.endswith(" GMT"):
        return False
    try:
        return email.utils.parsedate_to_datetime(text) is not None
    except (TypeError, ValueError):
        return False
