"""One good generate request per surface of the mock, and the check that all four still serve.

The admin-route tests and the gateway bad-input campaign both need to show that nothing they
sent broke the server for later callers; this is that proof, written once.
"""

from __future__ import annotations

from typing import Any

import httpx

PROMPT = "one two three four"
GOOD: dict[str, tuple[str, dict[str, Any]]] = {
    "anthropic": ("/anthropic/v1/messages", {"model": "databricks-claude-opus-4-6", "max_tokens": 64,
                                             "messages": [{"role": "user", "content": PROMPT}]}),
    "openai": ("/openai/v1/responses", {"model": "databricks-gpt-5-2", "input": PROMPT}),
    "cursor": ("/cursor/v1/chat/completions", {"model": "databricks-gpt-5-2",
                                               "messages": [{"role": "user", "content": PROMPT}]}),
    "gemini": ("/gemini/v1beta/models/databricks-gemini-2-5-flash:generateContent",
               {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}),
}


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
