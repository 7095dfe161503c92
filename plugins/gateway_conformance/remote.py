"""The client the target checks talk to a gateway with: bounded in time, clear when it fails.

A check against a real gateway must fail with a sentence a platform team can act on ("TLS
handshake with gw.example:443 failed: certificate verify failed"), never hang and never
end in a page of httpx internals. Every transport problem becomes a :class:`RemoteError`
naming the request, the kind of failure and what to check; the pytest plugin turns it into
a plain check failure. Answers are read in the cassette form
(:class:`~gateway_conformance.traffic.cassette.RecordedResponse`, events timed on arrival),
so the shape checks of :mod:`gateway_conformance.traffic.shapes` judge them unchanged.

The token is sent, never shown: messages carry the URL without query or userinfo.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx
import pytest

from gateway_conformance import cost
from gateway_conformance.secret import Secret, reveal, safe_url
from gateway_conformance.traffic import shapes
from gateway_conformance.traffic.cassette import RecordedResponse
from gateway_conformance.traffic.replay import read_response

FailureKind = Literal["timeout", "connect", "tls", "protocol", "config", "transport"]

ADVICE: dict[FailureKind, str] = {
    "timeout": "the gateway or its upstream is too slow or stuck; raise --remote-timeout if it is just slow",
    "connect": "check the URL, that the gateway is running, and proxies/firewalls between",
    "tls": "check the scheme (https to a plain-HTTP port fails like this) and that the gateway's CA "
           "is trusted (SSL_CERT_FILE)",
    "protocol": "the connection closed or broke mid-response; a proxy may be cutting long requests",
    "config": "the URL is not usable (scheme, host)",
    "transport": "",
}


class RemoteError(Exception):
    """A request that got no usable HTTP answer (as opposed to a wrong one)."""

    def __init__(self, kind: FailureKind, method: str, url: str, detail: str) -> None:
        self.kind = kind
        self.method = method
        self.url = safe_url(url) or url
        self.detail = detail
        advice = ADVICE[kind]
        super().__init__(f"{method} {self.url}: {kind}: {detail}" + (f" ({advice})" if advice else ""))


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` bounds each wait for the next bytes (a stream may run longer);
    ``total`` bounds a whole exchange, so a gateway that trickles bytes cannot hang a check."""

    connect: float = 10.0
    read: float = 60.0
    total: float = 180.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)


BODY_EXCERPT = 200  # bytes of a body quoted in a failure message


@dataclass
class Answer:
    """One exchange: what was asked, the response in cassette form (events timed) and its
    exact bytes (``content``: the cassette form keeps text, and OTLP answers in protobuf)."""

    method: str
    path: str
    response: RecordedResponse
    content: bytes = b""

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def json(self) -> Any:
        """The decoded JSON body (None for streams and non-JSON bodies)."""
        return self.response.body if not self.response.is_stream else None

    def findings(self, surface: str) -> list[shapes.Finding]:
        """Protocol errors in this answer by the surface's grammar (warnings left out)."""
        return [f for f in shapes.check_response(surface, self.method, self.path, self.response)
                if f.severity == "error"]

    def describe(self) -> str:
        """``POST /v1/messages -> 401``: the exchange a failure message starts with."""
        return f"{self.method} {self.path} -> {self.status}"

    def require(self, condition: object, requirement: str) -> None:
        """Fail the check with one sentence unless ``condition`` holds: the exchange, what was
        required, then the first bytes of the body (last, so a clipped reason keeps the rest).
        Never a traceback: a gateway's odd answer is a finding, not a crash."""
        if not condition:
            pytest.fail(f"{self.describe()}: required {requirement}; body {self.content[:BODY_EXCERPT]!r}",
                        pytrace=False)

    def field(self, *path: str | int, requirement: str) -> Any:
        """The JSON value at ``path`` (keys and list indexes), or a failure naming the
        requirement when the body is not JSON or has no such value (no ``KeyError``)."""
        value: Any = self.json
        for part in path:
            in_dict = isinstance(part, str) and isinstance(value, dict) and part in value
            in_list = isinstance(part, int) and isinstance(value, list) and -len(value) <= part < len(value)
            if not (in_dict or in_list):
                where = "".join(f"[{p!r}]" for p in path)
                self.require(False, f"{requirement} (the body has no {where})")
            value = value[part]
        return value


def classify(exc: httpx.HTTPError) -> tuple[FailureKind, str]:
    """What went wrong, as a kind and a short reason. httpx raises its errors while handling
    the transport's, so a TLS failure shows as an ``ssl.SSLError`` down the exception chain."""
    reason = str(exc) or type(exc).__name__
    chain: list[BaseException] = [exc]
    while (link := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 20:
        chain.append(link)
    ssl_error = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if isinstance(exc, httpx.TimeoutException):
        phase = {httpx.ConnectTimeout: "connecting", httpx.ReadTimeout: "waiting for the answer",
                 httpx.WriteTimeout: "sending the request", httpx.PoolTimeout: "waiting for a connection"}
        doing = phase.get(type(exc), "talking to the gateway")
        return "timeout", f"no progress while {doing} ({type(exc).__name__})"
    if ssl_error is not None:
        return "tls", f"TLS handshake failed: {ssl_error}"
    if any(word in reason.lower() for word in ("ssl", "tls", "certificate")):
        return "tls", f"TLS handshake failed: {reason}"
    if isinstance(exc, httpx.ConnectError):
        return "connect", f"cannot connect: {reason}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "protocol", reason
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "config", reason
    return "transport", f"{type(exc).__name__}: {reason}"


AuthScheme = Literal["bearer", "x-api-key", "x-goog-api-key", "query-key"]


def credentials(auth: AuthScheme, token: Secret | str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query parameters) that carry ``token`` in the surface's auth scheme: the
    forms the vendors' own clients use (``Authorization: Bearer``, Anthropic's ``x-api-key``,
    Gemini's ``x-goog-api-key`` or ``?key=``)."""
    token = reveal(token)  # the one place a request's credential is revealed
    if not token:
        return {}, {}
    if auth == "bearer":
        return {"authorization": f"Bearer {token}"}, {}
    if auth == "query-key":
        return {}, {"key": token}
    return {auth: token}, {}


class RemoteClient:
    """Requests against one base URL with one token, each bounded by :class:`Timeouts`.

    ``auth`` is how the token is sent (the target profile's scheme for the surface) and
    ``headers`` go with every request (a profile's extra headers); a request's own headers
    win over both.
    """

    def __init__(self, base_url: str, token: Secret | None = None, *, timeouts: Timeouts = Timeouts(),
                 auth: AuthScheme = "bearer", headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = Secret(token) if token is not None else None
        self.timeouts = timeouts
        self.auth = auth
        self.extra_headers = dict(headers or {})
        self._http = httpx.Client(timeout=timeouts.httpx(), transport=transport)

    def headers(self, token: Secret | str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        """A plain ``str`` token is for deliberately wrong ones (a check that wants a 401)."""
        auth, _ = credentials(self.auth, token)
        return {**self.extra_headers, **auth, **(extra or {})}

    def request(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                headers: Mapping[str, str] | None = None, token: Secret | str | None = "default",
                ) -> Answer:
        """Send and read the whole answer (streams event by event, timed); any transport
        failure, or the ``total`` deadline passing, raises :class:`RemoteError`."""
        url = self.base_url + path
        secret = self.token if token == "default" else token
        _, params = credentials(self.auth, secret)
        # merged into the path's own query (``?alt=sse``), which httpx's params= would replace
        target = httpx.URL(url).copy_merge_params(params) if params else url
        t0 = time.perf_counter()
        try:
            with self._http.stream(method, target, json=json, content=content,
                                   headers=self.headers(secret, headers)) as response:
                bounded = _Bounded(response, t0 + self.timeouts.total)
                recorded = read_response(bounded, t0)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            kind, detail = classify(exc)
            raise RemoteError(kind, method, url, detail) from exc
        except _DeadlineExceeded:
            raise RemoteError("timeout", method, url,
                              f"the answer did not complete within {self.timeouts.total:g} s") from None
        cost.record(recorded)
        return Answer(method, path, recorded, b"".join(bounded.chunks))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _DeadlineExceeded(Exception):
    pass


class _Bounded:
    """The response as ``read_response`` reads it, cut off at ``deadline`` (perf_counter),
    keeping the bytes that passed."""

    def __init__(self, response: httpx.Response, deadline: float) -> None:
        self._response = response
        self._deadline = deadline
        self.status_code = response.status_code
        self.headers = response.headers
        self.chunks: list[bytes] = []

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def iter_bytes(self) -> Any:
        for chunk in self._response.iter_bytes():
            if time.perf_counter() > self._deadline:
                raise _DeadlineExceeded
            self.chunks.append(chunk)
            yield chunk
