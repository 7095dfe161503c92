"""What upstream-mode checks read from any surface's answer, the same on all four.

A check is written once for all four surfaces: what differs per surface (where the request
goes, where an answer keeps its usage and text) is its module's in
:mod:`gateway_conformance.surfaces`; this module reads what does not differ: the events'
data with their arrival times, an error reported inside a stream, ``error.message``, the
first bytes of an answer for a failure message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway_conformance.remote import Answer

# A stream's terminal errors: what a client sees when its gateway reports a broken upstream in band.
_STREAM_ERROR = re.compile(r'"type"\s*:\s*"(error|response\.failed)"|^\s*\{\s*"error"\s*:')


def error_message(body: Any) -> str | None:
    """``error.message`` of any surface's envelope (Anthropic, OpenAI and Google all have it)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None


def stream_data(answer: Answer) -> list[tuple[float, str]]:
    """(milliseconds after sending, data) of each event that carries data, in arrival order."""
    return [(rec.t_ms, rec.event.data) for rec in answer.response.events or [] if rec.event.data is not None]


def in_band_error(datas: Iterable[str]) -> str | None:
    """The first event that reports an error inside the stream, if any."""
    return next((data for data in datas if _STREAM_ERROR.search(data)), None)


def first_bytes(answer: Answer, limit: int = 300) -> str:
    """The start of an answer's body, for failure messages."""
    return repr(answer.response.body_bytes()[:limit])
