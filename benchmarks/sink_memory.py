"""The sink's memory under concurrent hostile bodies: what ``serve`` holds at the peak and afterwards.

Issue 14 measured, before the memory budget: 64 concurrent 1 MiB gzip bombs took ``serve``
from 137 MiB to 1,622 MiB, and it stayed there after 10 s idle; 70 concurrent 8 MiB bodies
peaked at 2.25 GiB. The per-request limit held; concurrency multiplied it.

This runs both loads against a real ``serve`` process and reads its ``/proc`` status: the
baseline is the same process idle before the load, so the ratios carry across machines.

Targets: the high-water mark stays within ``2 x`` the memory budget above the idle RSS (the
budget bounds body buffers; decoding and the allocator add the rest), and 10 s after the
load the RSS is back within ``1.25 x`` the idle RSS (buffers are released with the request
and handed back to the OS). Exits 1 when a target is missed.

Run: ``.venv/bin/python benchmarks/sink_memory.py [--budget-mib N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PEAK_TARGET = 2.0  # x the memory budget, above idle
AFTER_TARGET = 1.25  # x idle RSS
TOKEN_ENV = "GWC_BENCH_TOKEN"


def memory_mib(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def gzip_bomb(inflated: int) -> bytes:
    """``inflated`` zero bytes, gzip-compressed a MiB at a time (never held inflated here)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    parts = [packer.compress(chunk) for _ in range(inflated // len(chunk))]
    return b"".join([*parts, packer.flush()])


def load(url: str, headers: dict[str, str], body: bytes, concurrent: int) -> Counter[int | str]:
    def post(_: int) -> int | str:
        try:
            return httpx.post(url, content=body, headers=headers, timeout=300).status_code
        except httpx.HTTPError as error:
            return type(error).__name__
    with ThreadPoolExecutor(concurrent) as pool:
        return Counter(pool.map(post, range(concurrent)))


def measure(label: str, budget_mib: int, body: bytes, concurrent: int, encoding: str) -> bool:
    token = f"gc-bench-{secrets.token_urlsafe(12)}"
    with tempfile.TemporaryDirectory(prefix="sink-memory-") as tables:
        process = subprocess.Popen([sys.executable, "-m", "gateway_conformance.cli", "serve", "--json",
                                    "--token-env", TOKEN_ENV, "--tables-dir", tables,
                                    "--sink-memory-budget", str(budget_mib)],
                                   stdout=subprocess.PIPE, text=True, env={**os.environ, TOKEN_ENV: token})
        try:
            line = json.loads(process.stdout.readline() if process.stdout else "{}")
            headers = {"content-type": "application/x-protobuf", "authorization": f"Bearer {token}",
                       "x-databricks-uc-table-name": line["tables"]["metrics"]}
            if encoding:
                headers["content-encoding"] = encoding
            time.sleep(1)
            idle = memory_mib(process.pid)["VmRSS"]
            answers = load(line["workspace_url"] + "/api/2.0/otel/v1/metrics", headers, body, concurrent)
            peak = memory_mib(process.pid)["VmHWM"]
            time.sleep(10)
            after = memory_mib(process.pid)["VmRSS"]
        finally:
            process.terminate()
            process.wait(60)
    peak_ok = peak - idle <= PEAK_TARGET * budget_mib
    after_ok = after <= AFTER_TARGET * idle
    print(f"{label}: {concurrent} concurrent x {len(body) / 2**20:.1f} MiB; answers "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(answers.items(), key=str))}")
    print(f"  idle RSS           {idle:8.0f} MiB  (baseline)")
    print(f"  high-water mark    {peak:8.0f} MiB  = idle + {(peak - idle) / budget_mib:.2f} x the "
          f"{budget_mib} MiB budget (target <= {PEAK_TARGET:g} x: {'met' if peak_ok else 'MISSED'})")
    print(f"  10 s after         {after:8.0f} MiB  = {after / idle:.2f} x idle "
          f"(target <= {AFTER_TARGET:g} x: {'met' if after_ok else 'MISSED'})")
    return peak_ok and after_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mib", type=int, default=256, help="--sink-memory-budget (default 256)")
    args = parser.parse_args(argv)
    bomb = gzip_bomb(1024 * 1024 * 1024)  # 1 GiB of zeros in ~1 MiB
    ok = measure("gzip bombs", args.budget_mib, bomb, 64, "gzip")
    ok &= measure("8 MiB bodies", args.budget_mib, b"\0" * (8 * 1024 * 1024), 70, "")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
