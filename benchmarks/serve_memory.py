"""Memory of ``gateway-conformance serve`` under 20,000 requests: it must stay within a fixed bound.

Before issue 13 the ledger kept every request (+10 MB per 10,000 refused requests); now it
keeps a bounded window and the usage and inference tables (Delta, written in groups) keep
everything. This starts a real ``serve --json`` (deltalake tables in a temporary folder),
sends a mix of answered JSON and streamed requests and refused ones (401, with request tags),
and reads the server's resident memory (VmRSS) from /proc at checkpoints.

The baseline is the RSS after the first ``--warmup`` requests (imports done, tables created,
first commits made, the ledger's 2,000-request window full, in this same run); the figures are
ratios to it at four checkpoints. Bounded means the second half of the run adds less than 10%
of the baseline, and the tables hold one usage row per request sent.

    python benchmarks/serve_memory.py [--requests 20000] [--warmup 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MODEL = "databricks-claude-haiku-4-5"
TAGS = {"Databricks-Ai-Gateway-Request-Tags": json.dumps({"bench": "serve-memory"})}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def send(client: httpx.AsyncClient, url: str, token: str, n: int) -> None:
    kind = n % 4  # JSON, stream, and two refusals out of every four
    body = {"model": MODEL, "max_tokens": 64, "stream": kind == 1,
            "messages": [{"role": "user", "content": f"request {n} about gateways"}]}
    auth = f"Bearer {token}" if kind < 2 else "Bearer not-a-token"
    response = await client.post(url, json=body, headers={"authorization": auth, **TAGS})
    expected = 200 if kind < 2 else 401
    if response.status_code != expected:
        raise SystemExit(f"request {n}: HTTP {response.status_code}, expected {expected}: "
                         f"{response.text[:200]}")


async def drive(url: str, token: str, start: int, stop: int, concurrency: int) -> None:
    queue = iter(range(start, stop))
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            for n in queue:
                await send(client, url, token, n)
        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gwc-bench-") as tmp:
        tables = Path(tmp) / "tables"
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", "--no-sink",
             "--tables-dir", str(tables), "--table-prefix", "bench"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        try:
            line = json.loads(process.stdout.readline() or "{}")
            if "urls" not in line:
                raise SystemExit(f"serve did not start: {process.stderr.read()[-2000:]}")
            url = line["urls"]["anthropic"] + "/v1/messages"
            token = line["tokens"]["default"]
            started = time.perf_counter()
            asyncio.run(drive(url, token, 0, args.warmup, args.concurrency))
            time.sleep(6)  # let the first groups commit
            baseline = rss_mb(process.pid)
            marks = [args.warmup + (args.requests - args.warmup) * k // 4 for k in range(1, 5)]
            figures = []
            for start, stop in zip([args.warmup, *marks], marks, strict=False):
                asyncio.run(drive(url, token, start, stop, args.concurrency))
                figures.append((stop, rss_mb(process.pid)))
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(60)
        from gateway_conformance.tables.delta import read_table

        rows = read_table(tables / "main" / "otel" / "bench_ai_gateway_usage", ["request_id"]).num_rows
    rate = args.requests / elapsed
    print(f"requests sent:                {args.requests} in {elapsed:.0f} s ({rate:.0f}/s)")
    print(f"usage rows committed:         {rows} (expected {args.requests})")
    print(f"RSS after {args.warmup} requests (baseline, ledger window full): {baseline:.1f} MB")
    for count, rss in figures:
        print(f"RSS after {count} requests: {rss:.1f} MB ({rss / baseline:.3f} x baseline)")
    half, end = figures[1][1], figures[-1][1]
    late = end - half
    print(f"growth over the last {figures[-1][0] - figures[1][0]} requests: {late:+.1f} MB "
          f"({late / baseline:+.3f} x baseline); bound: within 10% of the baseline")
    ok = rows == args.requests and late <= 0.10 * baseline
    print("serve memory: BOUNDED" if ok else "serve memory: NOT BOUNDED or rows missing")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
