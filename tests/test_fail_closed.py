"""Fail closed: a run that cannot measure the target stops up front or exits non-zero, and
``diff`` flags coverage that an upgrade lost.

Each rule is shown the way a platform team meets it: a nested ``pytest --conformance`` run
(or the ``diff`` command) as a subprocess, against real servers on 127.0.0.1 or against a
port where nothing listens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.report.results import CheckResult, Implementation, Report, write_report
from gateway_conformance.server import ServerHandle

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "GWC_FAIL_CLOSED_TOKEN"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def conformance(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
                ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--conformance", *args]
    return subprocess.run(command, cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def gwc_gateway() -> Iterator[tuple[str, str]]:
    """(URL, token) of the mock gateway, served on loopback for the nested runs."""
    token = new_token()
    with ServerHandle(create_gateway(GatewayConfig(tokens={token: "t"})), name="fail-closed") as server:
        yield server.url, token


def assert_stopped_up_front(result: subprocess.CompletedProcess[str], sentence: str) -> None:
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and sentence in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert " passed" not in result.stdout and " skipped" not in result.stdout, result.stdout[-2000:]


def test_the_issue_example_nothing_listening_stops_before_the_run() -> None:
    """``pytest --conformance --gateway-url http://127.0.0.1:9`` with no token: it used to say
    "5 failed, 43 passed, 256 skipped"; now it stops naming the unset variable."""
    result = conformance("--gateway-url", "http://127.0.0.1:9")
    assert_stopped_up_front(result, "$GATEWAY_CONFORMANCE_TOKEN is not set: export the gateway's token in it")


def test_an_unreachable_gateway_stops_before_the_run() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = conformance("--gateway-url", url, "--token-env", TOKEN_ENV, env={TOKEN_ENV: "tok-123456"})
    assert_stopped_up_front(result, f"the gateway at {url} is unreachable (cannot connect")
    assert "check the URL, that the gateway is running" in result.stderr


def test_an_unreachable_otlp_endpoint_stops_before_the_run(gwc_gateway: tuple[str, str]) -> None:
    url, token = gwc_gateway
    otlp = f"http://127.0.0.1:{free_port()}"
    result = conformance("--gateway-url", url, "--workspace-url", otlp, "--token-env", TOKEN_ENV,
                         env={TOKEN_ENV: token})
    assert_stopped_up_front(result, f"the OTLP endpoint at {otlp} is unreachable")


def test_an_unset_otlp_token_variable_stops_before_the_run(gwc_gateway: tuple[str, str],
                                                           tmp_path: Path) -> None:
    url, token = gwc_gateway
    profile = tmp_path / "gw.toml"
    profile.write_text(f'name = "gw"\nurl = "{url}"\ntoken_env = "{TOKEN_ENV}"\n'
                       f'[otlp]\nurl = "{url}"\ntoken_env = "GWC_FAIL_CLOSED_OTLP_UNSET"\n')
    result = conformance("--target", str(profile), env={TOKEN_ENV: token})
    assert_stopped_up_front(result, "$GWC_FAIL_CLOSED_OTLP_UNSET is not set: "
                                    "export the OTLP endpoint's token")
    assert str(profile) in result.stderr


def test_a_missing_extra_for_a_requested_output_stops_before_the_run(tmp_path: Path) -> None:
    """--conformance-html needs plotly (the [report] extra); hidden here as if not installed."""
    (tmp_path / "conftest.py").write_text("import sys\nsys.modules['plotly'] = None  # not installed\n")
    result = conformance("--conformance-html", str(tmp_path / "r.html"), "--rootdir", str(tmp_path),
                         "-c", os.devnull, str(tmp_path), cwd=tmp_path)
    assert_stopped_up_front(result, "--conformance-html needs plotly, which is not installed: "
                                    "pip install 'gateway-conformance[report]'")


def test_gateway_image_without_docker_stops_instead_of_skipping_everything() -> None:
    """It used to skip all 295 checks and exit 0. DOCKER_HOST points where no engine listens."""
    pytest.importorskip("testcontainers", reason="pip install 'gateway-conformance[containers]'")
    result = conformance("--gateway-image", "example/gateway:1", "-k", "test_json_grammar",
                         env={"DOCKER_HOST": f"tcp://127.0.0.1:{free_port()}"})
    assert_stopped_up_front(result, "--gateway-image example/gateway:1: no Docker engine reachable")
    assert "start Docker" in result.stderr


def test_otlp_checks_without_a_workspace_url_are_skipped_and_a_run_of_only_skips_fails(
        gwc_gateway: tuple[str, str], tmp_path: Path) -> None:
    """The OTLP checks never judge the embedded sink for an external gateway; a run in which
    every selected check was skipped exits non-zero and says nothing was measured."""
    url, token = gwc_gateway
    report = tmp_path / "r.json"
    result = conformance("conformance/test_target_otlp.py", "conformance/test_otlp_sink.py",
                         "--gateway-url", url, "--token-env", TOKEN_ENV, "--conformance-report", str(report),
                         env={TOKEN_ENV: token})
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout[-3000:]
    assert "none of the" in result.stdout and "was measured" in result.stdout
    results = json.loads(report.read_text())["results"]
    assert results and {r["outcome"] for r in results} == {"skip"}
    otlp = [r for r in results if r["check"].startswith("otlp.http.")]
    assert otlp and all("no OTLP workspace URL" in r["reason"] for r in otlp), otlp[0]
    sink = [r for r in results if r["check"].startswith("otlp.tables.")]
    assert sink and all(r["reason"].startswith("gwc_mock_only:") for r in sink), sink[0]


def test_a_run_that_measures_something_still_exits_zero(gwc_gateway: tuple[str, str]) -> None:
    url, token = gwc_gateway
    result = conformance("conformance/test_target_surfaces.py", "-k", "json_grammar", "--gateway-url", url,
                         "--token-env", TOKEN_ENV, env={TOKEN_ENV: token})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 passed" in result.stdout


def test_self_checks_are_not_credited_to_an_external_gateway(gwc_gateway: tuple[str, str]) -> None:
    url, token = gwc_gateway
    result = conformance("conformance/test_cassettes.py", "-k", "well_formed or recording_conforms",
                         "--gateway-url", url, "--token-env", TOKEN_ENV, env={TOKEN_ENV: token})
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout[-3000:]
    assert "gwc_self_check: judges the suite's own data, not the target" in result.stdout


# ---- diff: lost coverage ---------------------------------------------------------------------

def _report(path: Path, outcomes: dict[str, str], name: str, version: str, finished: str) -> Path:
    results = [CheckResult(nodeid=f"t::{check}", agent="codex", check=check, outcome=outcome,
                            # type: ignore[arg-type]
                           reason="gwc_mock_only: needs the embedded mock" if outcome == "skip" else None)
               for check, outcome in outcomes.items()]
    report = Report(implementation=Implementation(target="external", gateway_url="http://gw.example",
                                                  name=name, version=version),
                    results=results, created=finished, run={"finished": finished})
    return write_report(report, path)


def diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "diff", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def before(tmp_path: Path) -> Path:
    return _report(tmp_path / "before.json", {"a": "pass", "b": "pass", "c": "pass"}, "litellm", "1.88.0",
                   "2026-11-30T10:00:00Z")


@pytest.mark.parametrize(("after", "lost"), [
    ({"a": "pass", "b": "skip", "c": "pass"}, "codex / b  pass -> skip"),
    ({"a": "pass", "c": "pass"}, "codex / b  pass -> missing"),
])
def test_diff_exits_non_zero_on_lost_coverage(tmp_path: Path, before: Path, after: dict[str, str],
                                              lost: str) -> None:
    path = _report(tmp_path / "after.json", after, "litellm", "1.89.7", "2026-12-01T10:00:00Z")
    result = diff(before, path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "lost coverage (1): passed in OLD, not measured in NEW:" in result.stdout
    assert lost in result.stdout
    assert "1 check(s) lost coverage (--allow-lost-coverage to accept)" in result.stderr
    assert diff(before, path, "--allow-lost-coverage").returncode == 0


def test_diff_exits_non_zero_on_an_empty_after_report(tmp_path: Path, before: Path) -> None:
    path = _report(tmp_path / "after.json", {}, "litellm", "1.89.7", "2026-12-01T10:00:00Z")
    result = diff(before, path)
    assert result.returncode == 1
    assert "has no results: the run after measured nothing" in result.stderr
    assert diff(before, path, "--allow-lost-coverage").returncode == 0


def test_diff_says_which_run_is_which(tmp_path: Path, before: Path) -> None:
    path = _report(tmp_path / "after.json", {"a": "pass", "b": "pass", "c": "pass"}, "litellm", "1.89.7",
                   "2026-12-01T10:00:00Z")
    result = diff(before, path)
    assert result.returncode == 0, result.stderr
    old, new = (line.split() for line in result.stdout.splitlines()[1:3])
    assert old[:4] == ["old", "litellm", "1.88.0", "2026-11-30T10:00:00Z"]
    assert new[:4] == ["new", "litellm", "1.89.7", "2026-12-01T10:00:00Z"]
    assert "unnamed" not in result.stdout


def test_diff_labels_unnamed_runs_from_the_target_profile(tmp_path: Path) -> None:
    old = _report(tmp_path / "old.json", {"a": "pass"}, "", "", "2026-11-30T10:00:00Z")
    new = _report(tmp_path / "new.json", {"a": "pass"}, "", "", "2026-12-01T10:00:00Z")
    profiles = []
    for version in ("1.0", "2.0"):
        profile = tmp_path / f"gw-{version}.toml"
        profile.write_text(f'name = "kong"\nversion = "{version}"\nurl = "http://gw.example"\n')
        profiles += ["--target", profile]
    result = diff(old, new, *profiles)
    assert result.returncode == 0, result.stderr
    assert "kong  1.0" in result.stdout and "kong  2.0" in result.stdout
