"""The sink under `telemetrygen` (OpenTelemetry Collector contrib), beside a baseline of the same load.

Why telemetrygen: it is the OpenTelemetry project's own load generator, written by nobody here,
sending what SDKs and Collectors send: OTLP/HTTP protobuf, 100 points per request (its default
batch), from several workers as fast as the answers come (``--rate 0``).

Same generator, same machine, same run, two receivers:

- baseline: an OTLP/HTTP endpoint on the project's own server stack (uvicorn + Starlette) that
  reads the body and answers an empty ``ExportMetricsServiceResponse``, storing nothing. It is
  the ceiling HTTP sets on this machine: what the sink could reach if decoding, mapping and
  Delta commits cost nothing.
- the sink as ``serve`` starts it (deltalake engine, maintenance on), counting every row
  committed and when, so the run prints points/s over its first and last tenth.

Targets (issue 18): >= 50,000 points/s with 100-point requests and 8 workers; last tenth
>= 0.8 x first tenth; rows stored == points telemetrygen sent. Prints the figures either way;
exits 1 when a target is missed, 2 when telemetrygen is not installed
(``bash .ci/install-telemetrygen.sh`` installs it).

Run: ``.venv/bin/python benchmarks/telemetrygen_sink.py [--points N] [--workers W]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway_conformance.otlp.sink import OTEL_PATH, TABLE_HEADER, start_sink
from gateway_conformance.server import ServerHandle
from gateway_conformance.tables.delta import DeltaRsWriter
from gateway_conformance.tables.writer import TableName

RATE_TARGET = 50_000
FLAT_TARGET = 0.8
BATCH = 100
_ROOT = Path(__file__).resolve().parent.parent
_TOKEN = "gc-bench-telemetrygen"


def telemetrygen() -> str | None:
    """The telemetrygen binary: ``$TELEMETRYGEN``, the one the install script puts in .tools/bin, or PATH."""
    for candidate in (os.environ.get("TELEMETRYGEN"), str(_ROOT / ".tools" / "bin" / "telemetrygen")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("telemetrygen")


class CountingWriter(DeltaRsWriter):
    """The sink's writer, noting (time, rows committed so far) after each acknowledged append."""

    def __init__(self, tables_dir: Path, max_linger_seconds: float) -> None:
        super().__init__(tables_dir, max_linger_seconds=max_linger_seconds)
        self.marks: list[tuple[float, int]] = []
        self._rows = 0
        self._count_lock = threading.Lock()

    def append(self, name: TableName, rows: pa.Table) -> None:
        super().append(name, rows)
        with self._count_lock:
            self._rows += rows.num_rows
            self.marks.append((time.perf_counter(), self._rows))


class Run(NamedTuple):
    points: int
    seconds: float
    cpu_seconds: float  # of this process (the receiver)
    generator_cpu_seconds: float  # of telemetrygen


class ThreadCpu:
    """CPU seconds per kind of thread of this process, read from ``/proc/self/task`` (Linux).

    Why: the sink's cost splits over mapping threads, the commit thread, delta-rs's native
    threads and the HTTP server, and only the split says which one bounds the rate. Polled,
    because threads (anyio's workers) may end before the run does."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-thread-cpu", daemon=True)
        self.available = Path("/proc/self/task").is_dir()

    def __enter__(self) -> ThreadCpu:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()
            self._read()

    def by_kind(self) -> dict[str, float]:
        kinds: dict[str, float] = {}
        for name, seconds in self._seen.values():
            if name == self._thread.name:
                continue  # the poller's own reading of /proc is not the sink's cost
            kind = re.sub(r"[-_ ]?\d+$", "", name.split("-main.")[0])  # one row per pool or per table kind
            kinds[kind] = kinds.get(kind, 0.0) + seconds
        return dict(sorted(kinds.items(), key=lambda item: -item[1]))

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            self._read()

    def _read(self) -> None:
        names = {str(thread.native_id): thread.name for thread in threading.enumerate()}
        ticks = os.sysconf("SC_CLK_TCK")
        for task in Path("/proc/self/task").iterdir():
            try:
                native = (task / "comm").read_text().strip()
                fields = (task / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # the thread ended between listing and reading
            seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
            self._seen[task.name] = (names.get(task.name, native), seconds)


def _generate(binary: str, port: int, path: str, points: int, workers: int,
              headers: dict[str, str]) -> tuple[float, float]:
    """Run telemetrygen to completion against 127.0.0.1:port; returns its wall-clock and CPU seconds."""
    command = [binary, "metrics", "--otlp-http", "--otlp-insecure", "--otlp-endpoint", f"127.0.0.1:{port}",
               "--otlp-http-url-path", path, "--workers", str(workers), "--rate", "0",
               "--batch-size", str(BATCH), "--metrics", str(points // workers), "--metric-type", "Sum"]
    for key, value in headers.items():
        command += ["--otlp-header", f'{key}="{value}"']
    began, children = time.perf_counter(), os.times()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"telemetrygen exited {done.returncode}: {done.stderr.strip()[-400:]}")
    after = os.times()
    cpu = after.children_user + after.children_system - children.children_user - children.children_system
    return time.perf_counter() - began, cpu


def baseline(binary: str, points: int, workers: int) -> Run:
    """telemetrygen against a receiver that reads each body and answers 200 without storing it."""
    received = [0]
    answer = ExportMetricsServiceResponse().SerializeToString()

    async def export(request: Request) -> Response:
        await request.body()
        received[0] += 1
        return Response(answer, media_type="application/x-protobuf")

    app = Starlette(routes=[Route("/v1/metrics", export, methods=["POST"])])
    with ServerHandle(app, name="otlp-baseline") as server:
        cpu = time.process_time()
        seconds, generator_cpu = _generate(binary, server.port, "/v1/metrics", points, workers, {})
        cpu = time.process_time() - cpu
    return Run(points, seconds, cpu, generator_cpu)


class SinkFigures(NamedTuple):
    run: Run
    writer: CountingWriter
    stored: int
    live_files: int
    appends_per_commit: float  # over the commits the log still holds (it keeps ~10 s)
    threads: dict[str, float]


def sink_run(binary: str, points: int, workers: int, max_linger_seconds: float) -> SinkFigures:
    """telemetrygen against the sink: the run, the writer's marks, rows stored, live files, grouping."""
    from deltalake import DeltaTable

    from gateway_conformance.tables.delta import APPENDS_KEY

    with tempfile.TemporaryDirectory(prefix="tgen-sink-") as tables_dir:
        writer = CountingWriter(Path(tables_dir), max_linger_seconds)
        with start_sink(tables_dir, "bench", [_TOKEN], writer=writer) as sink:
            table = sink.table_names["metrics"]
            headers = {"Authorization": f"Bearer {_TOKEN}", TABLE_HEADER: str(table)}
            cpu = time.process_time()
            with ThreadCpu() as threads:
                seconds, generator_cpu = _generate(binary, sink.server.port, f"{OTEL_PATH}/metrics", points,
                                                   workers, headers)
            cpu = time.process_time() - cpu
        delta = DeltaTable(str(writer.table_path(table)))
        stored, live_files = delta.count(), len(delta.file_uris())
        writes = [entry for entry in delta.history() if entry["operation"] == "WRITE"]
    appends = sum(int(entry.get(APPENDS_KEY, 1)) for entry in writes) / max(1, len(writes))
    return SinkFigures(Run(stored, seconds, cpu, generator_cpu), writer, stored, live_files, appends,
                       threads.by_kind())


def tenth_rates(marks: list[tuple[float, int]]) -> tuple[float, float]:
    """Points/s over the first and the last tenth of the committed rows."""
    total, began = marks[-1][1], marks[0][0]
    first = next(mark for mark in marks if mark[1] >= total / 10)
    last_start = next(mark for mark in marks if mark[1] >= total * 9 / 10)
    first_rate = first[1] / max(first[0] - began, 1e-9)
    last_rate = (total - last_start[1]) / max(marks[-1][0] - last_start[0], 1e-9)
    return first_rate, last_rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per run (default 1,000,000)")
    parser.add_argument("--baseline-points", type=int, default=250_000, help="points of the baseline run")
    parser.add_argument("--workers", type=int, default=8, help="telemetrygen workers (default 8)")
    parser.add_argument("--max-linger-ms", type=float, default=25.0,
                        help="the group commit's longest wait for concurrent appends (default 25; 0: none)")
    args = parser.parse_args(argv)
    binary = telemetrygen()
    if binary is None:
        print("telemetrygen is not installed: run `bash .ci/install-telemetrygen.sh` (needs Go), "
              "or set TELEMETRYGEN=/path/to/telemetrygen; nothing was measured")
        return 2
    base = baseline(binary, args.baseline_points, args.workers)
    figures = sink_run(binary, args.points, args.workers, args.max_linger_ms / 1000)
    run, writer, stored, live_files = figures.run, figures.writer, figures.stored, figures.live_files
    sent = args.points // args.workers * args.workers
    rate = stored / run.seconds
    first, last = tenth_rates(writer.marks)
    base_rate = base.points / base.seconds
    print(f"telemetrygen {args.workers} workers x {BATCH}-point requests, --rate 0; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  baseline (HTTP only)  {base_rate:12,.0f} points/s  ({base.points:,} points; "
          f"{base.cpu_seconds / base.points * 1e6:.1f} us receiver CPU per point)")
    print(f"  sink                  {rate:12,.0f} points/s  = {rate / base_rate:.3f} x baseline "
          f"(target >= {RATE_TARGET:,}: {'met' if rate >= RATE_TARGET else 'MISSED'})")
    print(f"  sink first tenth      {first:12,.0f} points/s")
    print(f"  sink last tenth       {last:12,.0f} points/s  = {last / first:.2f} x first "
          f"(target >= {FLAT_TARGET}: {'met' if last >= FLAT_TARGET * first else 'MISSED'})")
    print(f"  sink CPU              {run.cpu_seconds / max(stored, 1) * 1e6:12.1f} us per point; "
          f"{live_files} live files at the end; {figures.appends_per_commit:.1f} requests per commit "
          f"(over the log's last ~10 s)")
    if figures.threads:
        print("  sink CPU by thread    " + ", ".join(
            f"{kind} {seconds / max(stored, 1) * 1e6:.1f}" for kind, seconds in figures.threads.items()
            if seconds >= 0.005 * run.cpu_seconds) + " (us per point)")
    per_point = (run.cpu_seconds + run.generator_cpu_seconds) / max(stored, 1)
    cores = os.cpu_count() or 1
    print(f"  CPU ceiling           {cores / per_point:12,.0f} points/s  (sink + telemetrygen "
          f"{per_point * 1e6:.1f} us CPU per point on {cores} cores, if no thread ever waited)")
    print(f"  rows stored {stored:,} of {sent:,} points sent "
          f"({'equal' if stored == sent else 'NOT EQUAL'})")
    ok = rate >= RATE_TARGET and last >= FLAT_TARGET * first and stored == sent
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
