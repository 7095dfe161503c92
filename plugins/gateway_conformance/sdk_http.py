"""The HTTP transport every official SDK check runs on: the target's credential form, its
extra headers, the cost meter, and the last exchange for the failure sentence.

The SDKs each have their own idea of authentication (``anthropic`` sends ``x-api-key`` or a
bearer, ``openai`` always a bearer, ``google-genai`` ``x-goog-api-key``), but a gateway
decides how it wants the token per surface (the target profile's ``auth`` and ``headers``).
So the SDKs are built with :data:`PLACEHOLDER` as their credential and this transport, the
one place that does it, swaps it for the token in the surface's scheme
(:func:`gateway_conformance.remote.credentials`, the same form the remote client sends) and
adds the surface's headers. A credential a check sets on purpose (a junk key beside the
bearer) is not the placeholder and goes out unchanged.

The SDKs turn an odd answer into their own exception; a platform team needs the exchange
instead. The transport keeps the last request it carried (method, path, status, first bytes
of the body): :func:`sentence` makes the check's failure from it (the plugin's
``pytest_runtest_call`` hook in :mod:`gateway_conformance.pytest_fixtures.target`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gateway_conformance import cost
from gateway_conformance.remote import BODY_EXCERPT, AuthScheme, credentials
from gateway_conformance.secret import Secret

PLACEHOLDER = "credential-set-by-the-target-profile"
_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")


@dataclass
class Exchange:
    """One request an SDK made: what was asked and, once it came, what came back."""

    method: str
    path: str
    status: int | None = None
    head: bytes = b""

    def describe(self) -> str:
        return f"{self.method} {self.path} -> {self.status if self.status is not None else 'no answer'}"


_LAST: list[Exchange] = []  # the last exchange of the running check (at most one)


def forget() -> None:
    """Start a check with no exchange remembered."""
    _LAST.clear()


def last_exchange() -> Exchange | None:
    return _LAST[-1] if _LAST else None


def what_failed(exc: BaseException) -> str:
    """What a failed check saw, in words: the SDK's own message for its exceptions; for a
    broken condition the check's message if it gave one, else the condition itself (pytest
    writes ``assert <condition>`` with its values, then ``where`` lines, left out here)."""
    text = str(exc).strip()
    if text.startswith("DID NOT RAISE"):  # pytest.raises: the SDK took the answer as a success
        return "the SDK read a success where an error answer was required"
    if not isinstance(exc, AssertionError):
        return text
    lines = text.splitlines()
    condition = next((line for line in lines if line.startswith("assert ")), None)
    given = [line for line in lines[:lines.index(condition)]] if condition else lines
    if given:
        return " ".join(given)
    return f"the condition {condition.removeprefix('assert ')} did not hold" if condition else ""


def sentence(requirement: str, detail: str) -> str | None:
    """The failure of a check whose SDK call or condition failed after the last exchange:
    the exchange, the requirement, what the SDK or the check saw, then the first bytes of the
    body (the format of :meth:`gateway_conformance.remote.Answer.require`). None when the
    check made no SDK request (its failure is not about an answer)."""
    exchange = last_exchange()
    if exchange is None:
        return None
    seen = " ".join(detail.split())[:300] or "nothing it could read"
    return f"{exchange.describe()}: required {requirement} (found: {seen}); body {exchange.head!r}"


def transport(http: ModuleType, *, auth: AuthScheme = "bearer", headers: Mapping[str, str] | None = None,
              token: Secret | str | None = None) -> Any:
    """A transport of ``http`` (``httpx2``, which the SDKs run on) for one surface: ``token``
    in the ``auth`` scheme instead of the SDK's :data:`PLACEHOLDER`, ``headers`` added where
    the SDK did not set them, answers metered (:func:`gateway_conformance.cost.metered_transport`)
    and the exchange kept. ``token`` may be a plain ``str`` for deliberately wrong ones."""
    inner = cost.metered_transport(http)
    extra = dict(headers or {})

    class Kept(http.SyncByteStream):  # type: ignore[misc, name-defined]
        """The body stream; its first bytes are kept for the failure sentence."""

        def __init__(self, stream: Any, exchange: Exchange) -> None:
            self._stream, self._exchange = stream, exchange

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._stream:
                if len(self._exchange.head) < BODY_EXCERPT:
                    self._exchange.head = (self._exchange.head + chunk)[:BODY_EXCERPT]
                yield chunk

        def close(self) -> None:
            self._stream.close()

    class Profiled(http.BaseTransport):  # type: ignore[misc, name-defined]
        def handle_request(self, request: Any) -> Any:
            for name in _CREDENTIAL_HEADERS:
                if PLACEHOLDER in request.headers.get(name, ""):
                    del request.headers[name]
            if request.url.params.get("key") == PLACEHOLDER:
                request.url = request.url.copy_remove_param("key")
            sent, params = credentials(auth, token)
            request.headers.update(sent)
            if params:
                request.url = request.url.copy_merge_params(params)
            for name, value in extra.items():
                request.headers.setdefault(name, value)
            exchange = Exchange(request.method, request.url.path)  # the path only: a query may hold the key
            _LAST[:] = [exchange]
            response = inner.handle_request(request)
            exchange.status = response.status_code
            response.stream = Kept(response.stream, exchange)
            return response

        def close(self) -> None:
            inner.close()

    return Profiled()
