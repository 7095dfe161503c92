"""In-band correlation markers: how a check finds its own request at the upstream.

Behind a real gateway the mock cannot tell which check sent a request: headers may be
dropped or rewritten, requests interleave and are retried. A marker is a short token a
check writes into its prompt text, which every gateway forwards (it is the user's message).
The mock finds it in the raw request body, files the ledger record under it, and fires
only the faults and scripted turns queued for it, so concurrent checks and a gateway's
retries never take each other's turns. The alphabet needs no JSON escaping, so the marker
is found byte for byte in any body that carries the text.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "gwc-mark-"
_MARKER = re.compile(rb"gwc-mark-[0-9a-f]{16}")


def new_marker() -> str:
    """A fresh marker, e.g. ``gwc-mark-3f9c0a1b2d4e5f60``."""
    return PREFIX + secrets.token_hex(8)


def find_marker(raw: bytes) -> str | None:
    """The first marker in a request body, if it carries one."""
    found = _MARKER.search(raw)
    return found.group().decode() if found else None
