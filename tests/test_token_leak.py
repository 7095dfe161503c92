"""No token in any output of a failing run: terminal, JUnit XML, the JSON results, the HTML page.

Issue 14 measured a failing run printing the bearer token 34 times (pytest shows a failing
test's arguments: ``gateway_token = 'gwc-...'``, ``Caller(... token='gwc-...')``) and 12
times in its JUnit XML. These runs make checks fail on purpose, the way a broken gateway
would, with every option that shows more (``-vv --tb=long --showlocals -rA``), and then
grep everything they wrote for every token the run knew. A token must appear zero times.

Two runs, both real nested pytest processes:

- embedded: the shipped policy and SDK checks against the embedded mock, each generate
  request failed by a queued fault (a ``-p`` plugin queues it), plus a test that leaks on
  purpose (prints, logs, records and asserts on the revealed tokens), so the plugin's scrub
  is shown to work, not just the ``Secret`` type;
- external: the any-target checks against ``serve --break rewrite-errors`` with the token
  in the environment, as a platform team runs them in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway_conformance.secret import Secret
from nested_runs import ROOT, serve

PLUGINS = ROOT / "plugins"
TOKEN_ENV = "GWC_LEAK_TEST_TOKEN"
VERBOSE = ("-vv", "--tb=long", "--showlocals", "-rA", "-p", "no:cacheprovider")

BREAKER = '''
"""Fails the first generate requests of every test that talks to the embedded mock."""
import pytest

@pytest.fixture(autouse=True)
def _every_generate_fails(request):
    if "gwc_gateway" in request.fixturenames or "gwc_gateway_urls" in request.fixturenames:
        faults = request.getfixturevalue("gwc_gateway_faults")
        for _ in range(4):
            faults.inject(status=500, kind=None)
'''

LEAKER = '''
"""Leaks on purpose through every channel a failing test has; the plugin must scrub them all."""
import json, logging, os
from dataclasses import dataclass
import pytest

@dataclass
class Holder:
    token: object
    raw: str

@pytest.mark.gwc_check("otlp.http.gzip")  # a check ID no other test of the run binds: it is reported
def test_leaks_on_purpose(gwc_gateway, gwc_gateway_token, gwc_gateway_restricted_token, gwc_otlp_token,
                          record_property):
    values = [gwc_gateway.token, gwc_gateway.restricted_token, gwc_gateway_token,
              gwc_gateway_restricted_token,
              gwc_otlp_token] + [getattr(gwc_gateway, "admin_token", None)]
    raw = [getattr(v, "reveal", lambda: v)() for v in values if v]
    with open(os.environ["GWC_LEAK_DUMP"], "w") as out:
        json.dump(sorted(set(raw)), out)
    holder = Holder(gwc_gateway_token, raw[0])
    headers = {"authorization": "Bearer " + raw[0]}
    print("stdout:", raw)
    print("stderr:", raw, file=__import__("sys").stderr)
    logging.getLogger("leak").warning("logged %s", raw)
    record_property("token", raw[0])
    assert holder.raw == raw[1], headers
'''


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def _report_args(folder: Path) -> list[str]:
    args = ["--junitxml", str(folder / "junit.xml"), "--conformance-report", str(folder / "results.json")]
    try:
        import plotly  # noqa: F401  (the report extra)
    except ImportError:
        return args
    return [*args, "--conformance-html", str(folder / "report.html")]


def _outputs(folder: Path, result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    found = {"stdout": result.stdout, "stderr": result.stderr}
    for name in ("junit.xml", "results.json", "report.html"):
        if (folder / name).exists():
            found[name] = (folder / name).read_text(encoding="utf-8")
    return found


def _hits(outputs: dict[str, str], tokens: list[str]) -> dict[str, int]:
    return {f"{name}: token #{i}": text.count(token)
            for name, text in outputs.items() for i, token in enumerate(tokens) if token in text}


def _assert_really_failed(result: subprocess.CompletedProcess[str], outputs: dict[str, str]) -> None:
    """The run must have failed checks and written every file, or a clean grep proves nothing."""
    assert result.returncode == 1, f"expected failing checks (exit 1), got {result.returncode}:\n" \
                                   f"{result.stdout[-3000:]}{result.stderr[-2000:]}"
    assert "junit.xml" in outputs and "results.json" in outputs, sorted(outputs)
    failed = [r for r in json.loads(outputs["results.json"])["results"] if r["outcome"] in ("fail", "error")]
    assert len(failed) >= 5, f"only {len(failed)} checks failed: the run shows too little"


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[str], str]:
    folder = tmp_path_factory.mktemp("leak-embedded")
    (folder / "gwc_leak_breaker.py").write_text(BREAKER)
    (folder / "test_leak_on_purpose.py").write_text(LEAKER)
    dump = folder / "tokens.json"
    env = _env(GWC_LEAK_DUMP=str(dump))
    env["PYTHONPATH"] = f"{folder}{os.pathsep}{env['PYTHONPATH']}"
    command = [sys.executable, "-m", "pytest", *VERBOSE, "-p", "gwc_leak_breaker", "--conformance",
               "conformance/test_gateway_policy.py", "conformance/test_anthropic_sdk.py",
               str(folder / "test_leak_on_purpose.py"), *_report_args(folder)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    outputs = _outputs(folder, result)
    _assert_really_failed(result, outputs)
    tokens = json.loads(dump.read_text()) if dump.exists() else []
    for token in tokens:
        Secret(token)  # this process's own failure output must not show them either
    assert len(tokens) >= 3, f"the leaking test did not run: {result.stdout[-2000:]}"
    return outputs, tokens, result.stdout


def test_no_embedded_token_in_any_output_of_a_failing_run(
        embedded_run: tuple[dict[str, str], list[str], str]) -> None:
    outputs, tokens, _ = embedded_run
    assert _hits(outputs, tokens) == {}, "a token reached the output (issue 14 item 1: none anywhere)"


def test_the_failing_run_still_says_what_failed(embedded_run: tuple[dict[str, str], list[str], str]) -> None:
    """Scrubbing must not blank the evidence: the fixture arguments and the failure still show."""
    outputs, _, stdout = embedded_run
    assert "gateway_token = Secret('***')" in stdout
    assert "token=Secret('***')" in stdout  # Caller(...) in the policy checks' arguments
    assert "[redacted]" in stdout and "[redacted]" in outputs["junit.xml"]
    assert "test_missing_and_invalid_token_are_told_apart" in outputs["junit.xml"]


def test_no_external_token_in_any_output_of_a_failing_run(tmp_path: Path) -> None:
    with serve("--break", "rewrite-errors", env=_env()) as line:
        tokens = sorted({v for v in line["tokens"].values()} | {line.get("admin_token") or ""} - {""})
        for token in tokens:
            Secret(token)
        command = [sys.executable, "-m", "pytest", *VERBOSE, "--conformance",
                   "conformance/test_target_surfaces.py", "--gateway-url", line["gateway_url"],
                   "--workspace-url", line["workspace_url"], "--token-env", TOKEN_ENV,
                   *_report_args(tmp_path)]
        result = subprocess.run(command, cwd=ROOT, env=_env(**{TOKEN_ENV: line["tokens"]["default"]}),
                                capture_output=True, text=True, timeout=400)
    outputs = _outputs(tmp_path, result)
    _assert_really_failed(result, outputs)
    assert _hits(outputs, tokens) == {}, "a token reached the output (issue 14 item 1: none anywhere)"
