"""A recorded session, re-aimed at the target under test: its model, paths and auth form.

A cassette is recorded against the mock's layout (``/anthropic/v1/messages``), with the
model the agent asked for then and the credential form the agent used. Replayed as a
client against a real gateway it must ask for what that gateway serves: the target's
model for the cassette's agent (where its surface names it: the JSON body's ``model``, or
Gemini's ``/models/<model>:`` path; :meth:`Surface.aim`), the surface's base path, and the
profile's auth scheme (the credential stays the redaction placeholder; the replayer puts the
token in).
Everything else is sent as recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from gateway_conformance.remote import AuthScheme
from gateway_conformance.surfaces import Surface
from gateway_conformance.surfaces import get as surface_of
from gateway_conformance.traffic.cassette import Cassette, RecordedRequest
from gateway_conformance.traffic.redact import PLACEHOLDER

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")


def retarget(cassette: Cassette, *, model: str, recorded_prefix: str, base_path: str,
             auth: AuthScheme = "bearer", headers: Mapping[str, str] | None = None) -> Cassette:
    """A copy whose every request asks ``model`` under ``base_path`` with ``auth``."""
    aimed = copy.deepcopy(cassette)
    surface = surface_of(cassette.meta.surface)
    for interaction in aimed.interactions:
        _retarget_request(surface, interaction.request, model, recorded_prefix, base_path, auth,
                          headers or {})
    return aimed


def _retarget_request(surface: Surface, request: RecordedRequest, model: str, recorded_prefix: str,
                      base_path: str, auth: AuthScheme, headers: Mapping[str, str]) -> None:
    path = request.path
    if path == recorded_prefix or path.startswith(recorded_prefix + "/"):
        path = base_path.rstrip("/") + path[len(recorded_prefix):]
    request.path, body_changed = surface.aim(path, request.body, model)
    if body_changed:
        request.body_text = None  # the exact recorded text named the old model
    had_credential = any(name.lower() in CREDENTIAL_HEADERS and PLACEHOLDER in value
                         for name, value in request.headers.items())
    if not had_credential:
        return
    request.headers = {name: value for name, value in request.headers.items()
                       if not (name.lower() in CREDENTIAL_HEADERS and PLACEHOLDER in value)}
    request.headers.update(headers)
    if auth == "bearer":
        request.headers["authorization"] = f"Bearer {PLACEHOLDER}"
    elif auth == "query-key":
        request.query = [*(pair for pair in request.query if pair[0] != "key"), ("key", PLACEHOLDER)]
    else:
        request.headers[auth] = PLACEHOLDER
