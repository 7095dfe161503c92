"""Campaign (d): `telemetrygen` drives the sink that ``serve`` starts, through a counting proxy.

Issue 14 asks for a load run by a generator nobody here wrote: telemetrygen (OpenTelemetry
Collector contrib) exports logs (one record per request, so requests pile up), metrics and
traces (batched) over OTLP/HTTP protobuf with the documented headers, as fast as the answers
come, into a ``serve`` process with a small in-flight limit so that overload really happens.

Between them sits a proxy on 127.0.0.1 that forwards every request untouched and counts,
from the bodies and the answers, what the sink acknowledged: the records of every request
answered 200 (minus any it reported rejected). That count is independent of the sink, so:

- rows stored in each Delta table == records acknowledged for that signal;
- every 503 (overload) carries ``Retry-After``, and no other answer is >= 500;
- the memory high-water mark of ``serve`` (``VmHWM``) is printed beside its idle RSS.

Size: ``GWC_CAMPAIGN_SCALE`` (default 1: a few thousand records, ~20 s; ``./tasks load``
uses 10). Skipped when telemetrygen is not installed (``bash .ci/install-telemetrygen.sh``;
``./tasks load`` runs it). The figures are printed, and appended to ``GWC_CAMPAIGN_FIGURES``.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.message import DecodeError, Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from campaign_scale import campaign_scale, publish
from gateway_conformance.otlp.decode import REQUEST_TYPES, RESPONSE_TYPES
from gateway_conformance.otlp.signals import Signal
from gateway_conformance.otlp.sink import ENDPOINTS, OTEL_PATH, TABLE_HEADER
from gateway_conformance.server import ServerHandle
from gateway_conformance.tables.delta import read_table

ROOT = Path(__file__).resolve().parents[2]
SCALE = campaign_scale()
#: Small on purpose: with more exporters than slots the sink must shed, and shedding is checked.
MAX_IN_FLIGHT = 8
TOKEN_ENV = "GWC_LOAD_TOKEN"
_REJECTED = {"metrics": "rejected_data_points", "logs": "rejected_log_records", "spans": "rejected_spans"}
_FORWARDED = ("authorization", "content-type", "content-encoding", TABLE_HEADER.lower())


def telemetrygen() -> str | None:
    """``$TELEMETRYGEN``, the install script's ``.tools/bin/telemetrygen``, or PATH."""
    for candidate in (os.environ.get("TELEMETRYGEN"), str(ROOT / ".tools" / "bin" / "telemetrygen")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("telemetrygen")


def records_in(signal: Signal, message: Message) -> int:
    """Log records, spans or data points: what becomes one row each."""
    if signal == "logs":
        return sum(len(scope.log_records) for resource in message.resource_logs
                   for scope in resource.scope_logs)
    if signal == "spans":
        return sum(len(scope.spans) for resource in message.resource_spans for scope in resource.scope_spans)
    return sum(len(getattr(metric, metric.WhichOneof("data")).data_points)
               for resource in message.resource_metrics for scope in resource.scope_metrics
               for metric in scope.metrics if metric.WhichOneof("data"))


@dataclass
class Tally:
    """What the proxy saw, per signal and status."""

    acknowledged: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    shed_without_retry_after: int = 0
    uncountable: int = 0
    connection_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class CountingProxy:
    """Forwards OTLP/HTTP to ``upstream`` byte for byte and counts the acknowledged records."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.tally = Tally()
        self._client: httpx.AsyncClient | None = None
        routes = [Route(f"{OTEL_PATH}/{path}", self._route(signal), methods=["POST"])
                  for signal, path in ENDPOINTS.items()]
        self.app = Starlette(routes=routes)

    def _route(self, signal: Signal) -> Any:
        async def forward(request: Request) -> Response:
            return await self.forward(request, signal)
        return forward

    async def forward(self, request: Request, signal: Signal) -> Response:
        if self._client is None:  # created on the server's own event loop
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=512), timeout=120)
        body = await request.body()
        headers = {key: value for key, value in request.headers.items() if key in _FORWARDED}
        try:
            answer = await self._client.post(self.upstream + request.url.path, content=body, headers=headers)
        except httpx.TransportError as error:
            # No answer from the sink (a kept-alive connection it closed as this request went
            # out): nothing was acknowledged; the exporter gets a retryable 502 and retries.
            with self.tally.lock:
                self.tally.connection_errors[type(error).__name__] += 1
            return Response(b"", status_code=502)
        self._count(signal, body, request.headers.get("content-encoding", ""), answer)
        passed = {key: value for key, value in answer.headers.items()
                  if key in ("content-type", "retry-after")}
        return Response(answer.content, status_code=answer.status_code, headers=passed)

    def _count(self, signal: Signal, body: bytes, encoding: str, answer: httpx.Response) -> None:
        with self.tally.lock:
            self.tally.statuses[answer.status_code] += 1
            if answer.status_code == 503 and not answer.headers.get("retry-after", "").isdigit():
                self.tally.shed_without_retry_after += 1
            if answer.status_code != 200:
                return
            try:
                plain = gzip.decompress(body) if encoding.strip().lower() == "gzip" else body
                sent = records_in(signal, REQUEST_TYPES[signal].FromString(plain))
                response = RESPONSE_TYPES[signal].FromString(answer.content)
            except (DecodeError, OSError, EOFError):
                self.tally.uncountable += 1
                return
            self.tally.acknowledged[signal] += sent - getattr(response.partial_success, _REJECTED[signal])


def memory_mib(pid: int) -> dict[str, float]:
    """RSS now and its high-water mark (VmHWM) of process ``pid``, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


@pytest.fixture(scope="module")
def binary() -> str:
    found = telemetrygen()
    if found is None:
        pytest.skip("telemetrygen is not installed: run `bash .ci/install-telemetrygen.sh` (needs Go) or "
                    "set TELEMETRYGEN; `./tasks load` does both")
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], str]]:
    """``serve`` as its own process (its memory is what is measured), and its token."""
    token = f"gc-load-{secrets.token_urlsafe(12)}"
    tables = tmp_path_factory.mktemp("load") / "tables"
    command = [sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", "--token-env", TOKEN_ENV,
               "--tables-dir", str(tables), "--table-prefix", "load",
               "--sink-max-in-flight", str(MAX_IN_FLIGHT)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, TOKEN_ENV: token})
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line, f"serve did not start: {process.stderr.read() if process.stderr else ''}"
        yield process, json.loads(line), token
    finally:
        process.terminate()
        process.wait(60)


def generate(binary: str, signal: Signal, port: int, table: str, token: str, workers: int, each: int) -> str:
    """One telemetrygen run to completion; its last output line (or why it failed). Logs go one
    record per request (``--batch=false``), so they are few per worker: requests, not rows."""
    kind = {"logs": ["logs", "--logs", str(min(each, 25)), "--batch=false"],
            "metrics": ["metrics", "--metrics", str(each), "--metric-type", "Sum", "--batch-size", "50"],
            "spans": ["traces", "--traces", str(each), "--child-spans", "3", "--batch-size", "50"]}[signal]
    command = [binary, *kind, "--otlp-http", "--otlp-insecure", "--otlp-endpoint", f"127.0.0.1:{port}",
               "--otlp-http-url-path", f"{OTEL_PATH}/{ENDPOINTS[signal]}", "--workers", str(workers),
               "--rate", "0", "--allow-export-failures",
               "--otlp-header", f'Authorization="Bearer {token}"',
               "--otlp-header", f'{TABLE_HEADER}="{table}"']
    done = subprocess.run(command, capture_output=True, text=True, timeout=120 + 60 * SCALE, check=False)
    output = (done.stdout + done.stderr).strip().splitlines()
    return f"{signal}: exit {done.returncode}, {output[-1][:160] if output else 'no output'}"


def test_telemetrygen_load(binary: str, served: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    process, line, token = served
    idle = memory_mib(process.pid)
    proxy = CountingProxy(line["workspace_url"])
    workers = max(2, round(16 * SCALE))
    each = max(10, round(100 * SCALE ** 0.5))
    began = time.monotonic()
    with ServerHandle(proxy.app, name="load-proxy") as server, ThreadPoolExecutor(3) as pool:
        runs = [pool.submit(generate, binary, signal, server.port, line["tables"][signal], token,
                            workers, each) for signal in ("logs", "metrics", "spans")]
        outcomes = [run.result() for run in runs]
    seconds = time.monotonic() - began
    time.sleep(2)
    after = memory_mib(process.pid)
    tables = Path(line["tables_dir"])
    stored = {signal: read_table(tables.joinpath(*line["tables"][signal].split("."))).num_rows
              for signal in ("logs", "metrics", "spans")}
    tally = proxy.tally
    over_500 = sum(n for status, n in tally.statuses.items() if status >= 500 and status != 503)
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(tally.statuses.items()))
    lines = [f"telemetrygen load: {sum(tally.statuses.values())} requests in {seconds:.0f} s "
             f"({workers} workers per signal, in-flight limit {MAX_IN_FLIGHT}); answers {statuses}",
             f"telemetrygen load: {tally.statuses[503]} shed as 503 "
             f"({tally.shed_without_retry_after} without Retry-After), {over_500} other answers >= 500; "
             f"requests without an answer (connection closed): {dict(tally.connection_errors) or 0}",
             *(f"telemetrygen load: {signal} rows stored {stored[signal]:,} == records acknowledged "
               f"{tally.acknowledged[signal]:,}: "
               f"{'yes' if stored[signal] == tally.acknowledged[signal] else 'NO'}"
               for signal in stored),
             f"telemetrygen load: serve memory idle {idle['VmRSS']:.0f} MiB, "
             f"high-water mark {after['VmHWM']:.0f} MiB "
             f"({after['VmHWM'] / idle['VmRSS']:.2f} x idle), {after['VmRSS']:.0f} MiB after the load"]
    print("\n" + "\n".join(outcomes))
    publish(lines)
    assert sum(tally.acknowledged.values()) > 0, "nothing was acknowledged: " + "; ".join(outcomes)
    assert tally.uncountable == 0, f"{tally.uncountable} acknowledged requests could not be counted"
    assert stored == dict(tally.acknowledged), (
        f"rows stored {stored} != records acknowledged {dict(tally.acknowledged)}")
    assert tally.shed_without_retry_after == 0, "a 503 without Retry-After: exporters cannot pace retries"
    assert over_500 == 0, f"answers >= 500 other than 503: {statuses}"
