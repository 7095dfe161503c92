"""One good generate request per surface of the mock, and the check that all four still serve.

The admin-route tests and the gateway bad-input campaign both need to show that nothing they
sent broke the server for later callers; this is that proof, written once.
"""

from __future__ import annotations

import httpx

from gateway_conformance import surfaces
from gateway_conformance.roster import documented_agent
from gateway_conformance.target import DOCUMENTED_MODELS

PROMPT = "one two three four"


def _good(surface: surfaces.Surface) -> tuple[str, dict[str, object]]:
    """(path from the gateway root, body) of one plain request, built by the surface's module."""
    path, body = surface.request(DOCUMENTED_MODELS[documented_agent(surface.name)], PROMPT, stream=False,
                                 max_tokens=64)
    return surface.base_path + path, body


GOOD = {name: _good(surface) for name, surface in surfaces.SURFACES.items()}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_every_surface_serves(http: httpx.Client, root: str, token: str, why: str) -> None:
    """A good request on each surface answers 200 with a JSON body (``why``: what came before)."""
    for surface, (path, body) in GOOD.items():
        try:
            response = http.post(root + path, json=body, headers=bearer(token))
        except httpx.HTTPError as exc:
            raise AssertionError(f"after {why}: POST {path} ({surface}) got no answer: {exc!r}") from None
        assert response.status_code == 200, (
            f"after {why}: POST {path} ({surface}) answered {response.status_code} "
            f"{response.text[:200]!r}; a good request must still be served")
        response.json()
