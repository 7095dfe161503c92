"""Exact streaming fidelity: the delay a gateway adds to each event of a paced stream.

The upstream streams a scripted text of numbered words (``w0001 w0002 ...``), one word per
event, at a fixed pace, and records when it sent each event. The client notes when each
word first reached it. A word's added delay is its arrival minus its departure, both on the
wall clock (upstream and client run on one host, so the clocks agree to well under a
millisecond). A gateway that forwards events as they come adds a few milliseconds to each; one
that buffers (whole stream, or every 16 KiB) holds early words back by most of the stream.
Words, not events, are matched, so a gateway may re-frame or translate the events freely.

Which upstream event carries which word is found by rendering the same reply with the
mock's own surface code: the upstream *is* the mock, so its framing is known exactly.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_conformance.gateway.app import default_surfaces
from gateway_conformance.gateway.responders import with_usage
from gateway_conformance.gateway.turns import Reply

_WORD = re.compile(r"(?<![\w-])w(\d{4})(?![\w-])")
# A forwarding gateway adds milliseconds; a 16 KiB buffer at this pace holds words back for
# seconds. The bound leaves room for a loaded CI machine.
MAX_ADDED_MS = 250.0


def paced_text(words: int) -> str:
    """The scripted reply: ``w0001 w0002 ...``, words no id, marker or JSON key can contain."""
    return " ".join(f"w{i:04d}" for i in range(1, words + 1))


def first_seen(events: Iterable[tuple[float, str | bytes]]) -> dict[int, float]:
    """Word number -> the time of the first event (``(time, text)``, in order) that carries it."""
    seen: dict[int, float] = {}
    for when, data in events:
        text = data.decode(errors="replace") if isinstance(data, bytes) else data
        for match in _WORD.finditer(text):
            seen.setdefault(int(match.group(1)), when)
    return seen


def upstream_departures(surface: str, body: dict[str, Any], path_params: dict[str, str], text: str,
                        produced_wall: Sequence[float]) -> dict[int, float]:
    """Word number -> when the upstream sent the event that first carried it (epoch seconds).

    Only the events before the last word matter, and the mock's framing before it depends on
    the reply alone (options such as ``stream_options`` add events after it), so rendering the
    client's own body gives the upstream's event indexes even when the gateway rewrote the body.
    """
    mock = {s.name: s for s in default_surfaces()}[surface]
    request = mock.parse_request(body, path_params)
    events = list(mock.render_stream(with_usage(Reply(text=text), request), request))
    index = first_seen(enumerate(events))
    if not index or max(index.values()) >= len(produced_wall):
        raise ValueError(f"the upstream sent {len(produced_wall)} events, fewer than the scripted reply "
                         f"needs: the scripted reply did not answer this request")
    return {word: produced_wall[int(i)] for word, i in index.items()}


@dataclass(frozen=True)
class Fidelity:
    """Added delay per word (ms), and the words that never arrived."""

    added_ms: dict[int, float]
    missing: tuple[int, ...]

    @property
    def worst(self) -> tuple[int, float]:
        word = max(self.added_ms, key=self.added_ms.__getitem__)
        return word, self.added_ms[word]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.added_ms.values())

    def late(self, bound_ms: float = MAX_ADDED_MS) -> list[int]:
        return [word for word, ms in self.added_ms.items() if ms > bound_ms]


def fidelity(departures: dict[int, float], arrivals: dict[int, float]) -> Fidelity:
    """Compare when each word left the upstream with when it reached the client (epoch seconds)."""
    added = {w: (arrivals[w] - departures[w]) * 1000 for w in sorted(departures) if w in arrivals}
    return Fidelity(added_ms=added, missing=tuple(w for w in sorted(departures) if w not in arrivals))
