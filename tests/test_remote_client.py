"""The remote-gateway client: every way a request can get no answer ends as one clear
sentence (a :class:`RemoteError`), and inside a check as a plain failure, never a crash.

respx stands in for the network where a failure cannot be produced on 127.0.0.1 on demand
(timeouts of each phase, a certificate the client refuses); a real TLS failure and a real
refused connection are produced on loopback too.
"""

from __future__ import annotations

import socket
import ssl
import textwrap
from collections.abc import Iterator

import httpx
import pytest
import respx

from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.remote import RemoteClient, RemoteError, Timeouts
from gateway_conformance.server import ServerHandle

pytest_plugins = ["pytester"]

BASE = "https://gateway.example.test/anthropic"
SECRET = "gwc-test-secret-never-shown"


@pytest.fixture
def client() -> Iterator[RemoteClient]:
    with RemoteClient(BASE, SECRET, timeouts=Timeouts(connect=1, read=1, total=5)) as remote:
        yield remote


def _fail(client: RemoteClient, side_effect: object) -> RemoteError:
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/v1/messages").mock(side_effect=side_effect)
        with pytest.raises(RemoteError) as caught:
            client.request("POST", "/v1/messages", json={"model": "m"})
    assert SECRET not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(("exc", "phase"), [
    (httpx.ConnectTimeout("timed out"), "connecting"),
    (httpx.ReadTimeout("timed out"), "waiting for the answer"),
    (httpx.WriteTimeout("timed out"), "sending the request"),
    (httpx.PoolTimeout("timed out"), "waiting for a connection"),
])
def test_timeouts_name_the_phase(client: RemoteClient, exc: Exception, phase: str) -> None:
    error = _fail(client, exc)
    assert error.kind == "timeout"
    assert str(error).startswith(f"POST {BASE}/v1/messages: timeout: no progress while {phase}")
    assert "--remote-timeout" in str(error)


def test_connection_refused_is_a_connect_failure(client: RemoteClient) -> None:
    error = _fail(client, httpx.ConnectError("[Errno 111] Connection refused"))
    assert error.kind == "connect"
    assert "cannot connect: [Errno 111] Connection refused" in str(error)
    assert "check the URL" in str(error)


def test_certificate_failure_is_a_tls_failure(client: RemoteClient) -> None:
    error = _fail(client, httpx.ConnectError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)"))
    assert error.kind == "tls"
    assert "TLS handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED]" in str(error)
    assert "SSL_CERT_FILE" in str(error)


def test_tls_found_through_the_exception_chain() -> None:
    """httpx wraps the ssl error; the wrapper's own text may not say TLS at all. (respx
    replaces an exception's cause, so this one goes through httpx's own mock transport.)"""
    def handler_chained(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate has expired")
        except ssl.SSLError as exc:
            raise httpx.ConnectError("handshake aborted", request=request) from exc

    with RemoteClient(BASE, transport=httpx.MockTransport(handler_chained)) as remote, \
            pytest.raises(RemoteError) as caught:
        remote.request("GET", "/v1/models")
    assert caught.value.kind == "tls" and "certificate has expired" in str(caught.value)


def test_connection_cut_mid_response_is_a_protocol_failure(client: RemoteClient) -> None:
    error = _fail(client, httpx.RemoteProtocolError("peer closed connection without sending complete body"))
    assert error.kind == "protocol" and "peer closed connection" in str(error)


def test_query_and_userinfo_never_appear(client: RemoteClient) -> None:
    with respx.mock() as router:
        router.get(url__startswith="https://gateway.example.test/").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(RemoteError) as caught:
            client.request("GET", f"/v1/models?key={SECRET}")
    assert SECRET not in str(caught.value) and "/anthropic/v1/models" in str(caught.value)


def test_answers_are_read_with_their_bytes_and_status(client: RemoteClient) -> None:
    with respx.mock() as router:
        router.get(f"{BASE}/v1/models").mock(return_value=httpx.Response(503, json={"error": "x"}))
        answer = client.request("GET", "/v1/models")
    assert answer.status == 503 and answer.json == {"error": "x"} and answer.content == b'{"error":"x"}'


def test_the_total_deadline_bounds_a_trickling_stream() -> None:
    def trickle() -> Iterator[bytes]:
        while True:
            yield b"data: {}\n\n"

    with respx.mock() as router, RemoteClient(BASE, timeouts=Timeouts(total=0.2)) as remote:
        router.post(f"{BASE}/v1/messages").mock(return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Slow(trickle())))
        with pytest.raises(RemoteError, match=r"timeout: the answer did not complete within 0.2 s"):
            remote.request("POST", "/v1/messages", json={})


class _Slow(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        import time

        for chunk in self.chunks:
            time.sleep(0.02)
            yield chunk


# ---- real sockets on loopback ------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_refused_connection() -> None:
    with RemoteClient(f"http://127.0.0.1:{_free_port()}") as remote, pytest.raises(RemoteError) as caught:
        remote.request("GET", "/")
    assert caught.value.kind == "connect"


def test_real_tls_to_a_plain_http_port() -> None:
    """https:// to a plain-HTTP server: the handshake fails on the server's HTTP answer."""
    core = create_gateway(GatewayConfig(tokens={new_token(): "t"}))
    with ServerHandle(core) as server:
        https = server.url.replace("http://", "https://")
        with RemoteClient(https, timeouts=Timeouts(connect=5, read=5)) as remote, \
                pytest.raises(RemoteError) as caught:
            remote.request("GET", "/anthropic/v1/models")
    assert caught.value.kind == "tls", str(caught.value)
    assert "https to a plain-HTTP port" in str(caught.value)


# ---- inside a check ------------------------------------------------------------------------------

def test_in_a_check_it_is_a_one_line_failure_not_a_traceback(pytester: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A check against an unreachable gateway fails with the sentence; the run goes on."""
    pytester.makepyfile(test_unreachable=textwrap.dedent("""
        from gateway_conformance.remote import RemoteClient

        def test_listing(gwc_remote_clients):
            gwc_remote_clients["anthropic"].request("GET", "/v1/models")

        def test_after():
            assert True
    """))
    monkeypatch.setenv("GATEWAY_CONFORMANCE_TOKEN", SECRET)
    result = pytester.runpytest_inprocess("--gateway-url", f"http://127.0.0.1:{_free_port()}", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "GET http://127.0.0.1:" in output and "/anthropic/v1/models: connect: cannot connect" in output
    assert "httpcore" not in output and "Traceback" not in output
    assert SECRET not in output
