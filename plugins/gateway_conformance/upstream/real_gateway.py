"""Run the suite through a real third-party gateway that fronts ``gateway-conformance serve``.

``python -m gateway_conformance.upstream.real_gateway LAUNCH.toml [PYTEST ARGS...]`` (what
``./tasks real-gateways`` calls) does, with no shim in between:

1. reads the launch file and the target profile it names (``profile``);
2. makes fresh random tokens for the gateway (the profile's ``token_env``), for the upstream
   (``upstream_token_env``, which the gateway's own config reads) and for the upstream's
   admin routes (``[upstream] admin_token_env``), in the environment only;
3. starts ``serve`` on the port of ``[upstream] url`` and the gateway's ``command``, waits
   until the gateway answers ``ready`` and reads its version with ``version``;
4. runs ``pytest --conformance --target PROFILE``; checks marked ``gwc_mock_only`` or
   ``gwc_self_check`` are not selected (they judge the mock's internals or the suite's own
   data, never a gateway);
5. keeps the results and both logs in ``artifacts/real-gateways/NAME/`` and prints, as its
   last line, ``NAME VERSION: N passed, M failed (E expected), S skipped,
   U not claimed`` and exits with pytest's status (an unexpected or stale expected failure
   fails it), or 1 when 10% or more of the claimed checks were skipped, or 2 when the
   gateway could not be started or its version is not the profile's.

The launch file (``examples/targets/litellm/launch.toml`` is the one shipped)::

    profile = "litellm.toml"                     # relative to the launch file
    command = ["litellm", "--config", "config.yaml", "--port", "18400"]  # cwd: its folder
    ready = "/health/liveliness"                 # GET under the profile's url, until 200
    version = ["python", "-c", "..."]            # prints the gateway's version
    upstream_token_env = "GWC_UPSTREAM_TOKEN"
    [env]                                        # more environment for the gateway
    LITELLM_LOCAL_MODEL_COST_MAP = "True"
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from gateway_conformance.toml_file import read_toml

START_TIMEOUT = 240.0  # LiteLLM takes ~45 s to start on a busy 2-core machine
MAX_SKIPPED_SHARE = 0.10
# The results and both processes' logs of the last run (CI keeps artifacts/).
ARTIFACTS = Path("artifacts") / "real-gateways"
DESELECT = "not gwc_mock_only and not gwc_self_check and not gwc_spark and not gwc_browser and not gwc_agents"


class LaunchError(Exception):
    """The gateway or its upstream could not be brought up (one sentence, with the fix)."""


@dataclass(frozen=True)
class Launch:
    folder: Path
    profile: Path
    command: list[str]
    ready: str
    version: list[str]
    upstream_token_env: str
    env: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> Launch:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls(folder=path.parent.resolve(), profile=(path.parent / data["profile"]).resolve(),
                       command=list(data["command"]), ready=str(data["ready"]),
                       version=list(data["version"]), upstream_token_env=str(data["upstream_token_env"]),
                       env={str(k): str(v) for k, v in data.get("env", {}).items()})
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise LaunchError(f"launch file {path}: {exc!r}; see gateway_conformance.upstream.real_gateway "
                              f"for its keys") from None


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    expected: int = 0
    skipped: int = 0
    not_claimed: int = 0

    @property
    def claimed(self) -> int:
        return self.passed + self.failed + self.skipped

    def line(self, name: str, version: str) -> str:
        return (f"{name} {version}: {self.passed} passed, {self.failed} failed ({self.expected} expected), "
                f"{self.skipped} skipped, {self.not_claimed} not claimed")


def count(results: Sequence[Mapping[str, Any]]) -> Counts:
    """Tally a results document: an expected failure (xfail) is a failure that is expected; a
    skip filed "not claimed" is not the gateway's to pass (docs/report.md)."""
    counts = Counts()
    for result in results:
        outcome = result.get("outcome")
        if outcome in ("pass", "xpass"):
            counts.passed += 1
        elif outcome in ("fail", "error"):
            counts.failed += 1
        elif outcome == "xfail":
            counts.failed += 1
            counts.expected += 1
        elif str(result.get("reason") or "").startswith("not claimed"):
            counts.not_claimed += 1
        else:
            counts.skipped += 1
    return counts


def _port(url: str, what: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise LaunchError(f"{what} {url} names no port: give it one (e.g. http://127.0.0.1:18401)")
    return port


@contextmanager
def _process(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: IO[bytes],
             ) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that is stopped (SIGTERM, then SIGKILL) however the block ends."""
    try:
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise LaunchError(f"cannot start {argv[0]}: {exc.strerror}; is it installed (./tasks real-gateways "
                          f"installs LiteLLM)?") from None
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LaunchError(f"{proc.args[0]} exited with {proc.returncode} while starting; its log: {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise LaunchError(f"GET {url} did not answer 200 within {START_TIMEOUT:g} s; the log: {log}")


def _serve_command(port: int, launch: Launch, admin_env: str) -> list[str]:
    """``gateway-conformance serve`` of this interpreter: the upstream, accepting the token the
    gateway's config reads from ``upstream_token_env``, steered with the admin token."""
    return [sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", "--no-sink",
            "--gateway-port", str(port), "--token-env", launch.upstream_token_env,
            "--admin-token-env", admin_env]


def run(launch_path: Path, pytest_args: Sequence[str]) -> int:
    launch = Launch.read(launch_path)
    profile = read_toml(launch.profile, f"target profile {launch.profile}", LaunchError)
    name, pinned, url = profile.get("name", "gateway"), str(profile.get("version", "")), profile["url"]
    upstream = profile.get("upstream") or {}
    if "url" not in upstream:
        raise LaunchError(f"target profile {launch.profile}: needs an [upstream] table "
                          f"(url, admin_token_env)")
    env = {**os.environ, **launch.env}
    token_env = profile.get("token_env", "GATEWAY_CONFORMANCE_TOKEN")
    admin_env = upstream.get("admin_token_env", "GATEWAY_CONFORMANCE_ADMIN_TOKEN")
    env.update({token_env: f"sk-gwc-{secrets.token_urlsafe(18)}",
                launch.upstream_token_env: f"gwc-upstream-{secrets.token_urlsafe(18)}",
                admin_env: f"gwc-admin-{secrets.token_urlsafe(18)}"})
    version = subprocess.run(launch.version, env=env, cwd=launch.folder, capture_output=True, text=True,
                             check=False).stdout.strip()
    if not version:
        raise LaunchError(f"{' '.join(launch.version)} printed no version: is {name} installed?")
    if pinned and version != pinned:
        raise LaunchError(f"{name} {version} is installed, the profile {launch.profile.name} says {pinned}: "
                          f"reinstall ({name} is pinned) or update the profile and its expected failures")
    logs = ARTIFACTS / str(name)
    logs.mkdir(parents=True, exist_ok=True)
    report = logs / "report.json"
    report.unlink(missing_ok=True)
    with open(logs / "serve.log", "wb") as serve_log, open(logs / "gateway.log", "wb") as gateway_log, \
            _process(_serve_command(_port(upstream["url"], "[upstream] url"), launch, admin_env),
                     env=env, cwd=launch.folder, log=serve_log) as serve, \
            _process(launch.command, env=env, cwd=launch.folder, log=gateway_log) as gateway:
        _wait_ready(upstream["url"].rstrip("/") + "/anthropic/", serve, logs / "serve.log")
        _wait_ready(url.rstrip("/") + launch.ready, gateway, logs / "gateway.log")
        status = subprocess.run([sys.executable, "-m", "pytest", "--conformance", "--target",
                                 str(launch.profile), "-m", DESELECT, "-p", "no:cacheprovider",
                                 "--conformance-report", str(report), *pytest_args], env=env,
                                check=False).returncode
    if not report.is_file():
        print(f"{name} {version}: the run wrote no report (pytest exit {status}); logs in {logs}")
        return status or 2
    counts = count(json.loads(report.read_text(encoding="utf-8"))["results"])
    if status == 0 and counts.claimed and counts.skipped >= MAX_SKIPPED_SHARE * counts.claimed:
        print(f"{counts.skipped} of {counts.claimed} claimed checks were skipped (the bound is "
              f"{MAX_SKIPPED_SHARE:.0%}): the run did not judge the gateway enough")
        status = 1
    print(counts.line(name, version))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m gateway_conformance.upstream.real_gateway LAUNCH.toml [PYTEST ARGS...]")
        return 2
    try:
        return run(Path(args[0]), args[1:])
    except LaunchError as exc:
        print(f"real-gateways: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
