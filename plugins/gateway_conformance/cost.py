"""What a conformance run cost: the tokens the target reported, per check and in total.

Against a real model every generating check spends tokens. The checks' answers already
carry the provider's usage (Anthropic ``usage``, OpenAI ``usage`` in Responses and Chat,
Gemini ``usageMetadata``); every answer read through :class:`~gateway_conformance.remote.RemoteClient`,
replayed from a cassette or read by an SDK check is metered here, so a platform team sees what a run costs
before they schedule it nightly. The SDK checks hand the SDKs a
:func:`metered_transport`, so their answers count too. Usage is read as the target
reported it, never estimated: an answer without usage counts nothing.

Per check the facts ``tokens.input`` and ``tokens.output`` land in the results; the total is
the last line of the run (docs/platform-teams.md, "Cost of a run").
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from gateway_conformance.sse import SSEParser
from gateway_conformance.traffic.cassette import RecordedEvent, RecordedResponse

# The usage object of each protocol, and its (input, output) counters.
_COUNTERS = (("input_tokens", "output_tokens"), ("prompt_tokens", "completion_tokens"),
             ("promptTokenCount", "candidatesTokenCount"))


@dataclass
class Usage:
    input: int = 0
    output: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output

    def add(self, other: Usage) -> None:
        self.input += other.input
        self.output += other.output


def _objects(response: RecordedResponse) -> Iterator[Any]:
    if response.events is None:
        yield response.body
        return
    for record in response.events:
        try:
            yield json.loads(record.event.data or "null")
        except ValueError:
            continue


def _usage_dicts(obj: Any) -> Iterable[dict[str, Any]]:
    if not isinstance(obj, dict):
        return ()
    nested = [obj.get(key) for key in ("message", "response")]  # message_start, response.completed
    found = [obj.get("usage"), obj.get("usageMetadata"),
             *(n.get("usage") for n in nested if isinstance(n, dict))]
    return [u for u in found if isinstance(u, dict)]


def usage_of(response: RecordedResponse) -> Usage:
    """The usage one answer reports. Streams repeat or accumulate it (Anthropic's
    ``message_delta`` and Gemini's chunks are running totals), so the largest count wins."""
    usage = Usage()
    for obj in _objects(response):
        for counters in _usage_dicts(obj):
            for inp, out in _COUNTERS:
                usage.input = max(usage.input, _int(counters.get(inp)))
                usage.output = max(usage.output, _int(counters.get(out)))
    return usage


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class Meter:
    """The run's meter: the check that is running and what each check spent."""

    def __init__(self) -> None:
        self.current: Usage | None = None
        self.total = Usage()
        self.checks = 0

    def record(self, response: RecordedResponse) -> None:
        if self.current is not None:
            self.current.add(usage_of(response))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        self.current = Usage()
        try:
            return (yield)
        finally:
            spent, self.current = self.current, None
            if spent.total:
                item.user_properties += [("tokens.input", str(spent.input)),
                                         ("tokens.output", str(spent.output))]
                self.total.add(spent)
                self.checks += 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_line(
            f"gateway-conformance: the target reported {self.total.total} tokens "
            f"({self.total.input} input, {self.total.output} output) over {self.checks} checks")


def _recorded(status: int, headers: dict[str, str], raw: bytes) -> RecordedResponse:
    """The cassette form of a body as it came off the wire (decompressed if it was)."""
    if headers.get("content-encoding", "").lower() in ("gzip", "deflate"):
        try:
            raw = zlib.decompress(raw, 47)  # 47: gzip or zlib header, detected
        except zlib.error:
            return RecordedResponse(status, headers)
    if "text/event-stream" in headers.get("content-type", ""):
        parser = SSEParser()
        events = [RecordedEvent(0.0, event) for event in parser.feed(raw)]
        return RecordedResponse(status, headers, events=events, tail=parser.close())
    return RecordedResponse.from_body(status, headers, raw)


def metered_transport(http: ModuleType) -> Any:
    """A transport of ``http`` (``httpx`` or its fork ``httpx2``, which the official SDKs run
    on) whose answers are metered like the remote client's: hand it to an SDK's HTTP client."""
    inner = http.HTTPTransport()

    class Tee(http.SyncByteStream):  # type: ignore[misc, name-defined]
        """The body stream, kept as it passes and metered when the reader closes it."""

        def __init__(self, stream: Any, status: int, headers: dict[str, str]) -> None:
            self._stream, self._status, self._headers = stream, status, headers
            self._chunks: list[bytes] = []

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._stream:
                self._chunks.append(chunk)
                yield chunk

        def close(self) -> None:
            self._stream.close()
            record(_recorded(self._status, self._headers, b"".join(self._chunks)))

    class Metered(http.BaseTransport):  # type: ignore[misc, name-defined]
        def handle_request(self, request: Any) -> Any:
            response = inner.handle_request(request)
            response.stream = Tee(response.stream, response.status_code, dict(response.headers))
            return response

        def close(self) -> None:
            inner.close()

    return Metered()


_METER: Meter | None = None


def record(response: RecordedResponse) -> None:
    """Meter one answer for the running check (a no-op outside a conformance run)."""
    if _METER is not None:
        _METER.record(response)


def configure(config: pytest.Config) -> None:
    """From ``pytest_configure`` of a ``--conformance`` run."""
    global _METER
    _METER = Meter()
    config.pluginmanager.register(_METER, "gateway-conformance-cost")
