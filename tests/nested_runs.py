"""The suite run from a test the way a platform team runs it: ``serve`` in its own process, and
a nested ``pytest --conformance`` against a gateway's URLs with the token in the environment only.

Tests of the external path, of the run's cost and of the streaming heuristic judge what such a
run wrote (its results document, its output), so they start it the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "GWC_NESTED_RUN_TOKEN"


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """``gateway-conformance serve --json`` until the block ends; its startup line (URLs, tokens).
    ``env`` replaces this process's environment (None: inherit it)."""
    process = subprocess.Popen([sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line, process.stderr.read() if process.stderr else "serve printed nothing"
        yield json.loads(line)
    finally:
        process.terminate()
        process.wait(timeout=20)


def check_gateway(gateway_url: str, token: str, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest --conformance`` against ``gateway_url``, writing its results to ``report``; ``args``
    are the test paths (none: the whole suite), ``-k`` and any other option."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--conformance", *args,
               "--gateway-url", gateway_url, "--token-env", TOKEN_ENV, "--conformance-report", str(report)]
    return subprocess.run(command, cwd=ROOT, env={**os.environ, TOKEN_ENV: token}, capture_output=True,
                          text=True, timeout=400)
