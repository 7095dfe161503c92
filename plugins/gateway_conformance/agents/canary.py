"""The agent canary: every newly published agent CLI tried with the documented and the
generated config, before a user meets the break.

Three steps, each its own function so a test can replace the one that needs the network:
ask npm which versions exist (``npm view <package> versions --json``), install the ones
wanted into a cache folder (one npm prefix per version, never global, never a project's
``./node_modules``), and run the suite's own config-compatibility checks
(``conformance/test_agents_e2e.py::test_config_compatibility_matrix``, the embedded mock as
the gateway) on a folder that links exactly those versions. The checks are not copied here:
the canary reads their outcomes from the run's ``--conformance-report``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway_conformance.agents import launch, registry
from gateway_conformance.agents.base import AgentSpec, parse_version
from gateway_conformance.agents.matrix import Row
from gateway_conformance.cli_errors import CommandError
from gateway_conformance.resources import suite_dir

STABLE = re.compile(r"^\d+\.\d+\.\d+$")  # no nightlies, previews or per-platform builds
MATRIX_TEST = "test_config_compatibility_matrix"
CHECK_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Candidate:
    spec: AgentSpec
    version: str


def canary_cache() -> Path:
    """Where the canary's installs live: beside the pinned cache, one prefix per version."""
    return launch.agents_cache().parent / "canary"


def run_npm(npm: str, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run npm; a missing npm, a timeout or a failure becomes one line with the fix."""
    try:
        proc = subprocess.run([npm, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise CommandError(f"{npm} is not on PATH: install Node 20+ with npm (the agent CLIs are npm "
                           "packages)") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"`{npm} {' '.join(args)}` took over {timeout:.0f}s: check the network") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CommandError(f"`{npm} {' '.join(args)}` failed ({last}): check the network and npm's "
                           "registry setting")
    return proc


def published_versions(spec: AgentSpec, npm: str = "npm") -> list[str]:
    """The stable versions npm lists for the agent's package, oldest first."""
    assert spec.npm_package is not None
    proc = run_npm(npm, "view", spec.npm_package, "versions", "--json", timeout=120)
    try:
        versions = json.loads(proc.stdout)
    except ValueError:
        raise CommandError(f"npm view {spec.npm_package} answered something that is not JSON") from None
    if isinstance(versions, str):
        versions = [versions]
    return sorted((v for v in versions if isinstance(v, str) and STABLE.match(v)), key=parse_version)


def install(candidate: Candidate, cache: Path, npm: str = "npm") -> launch.Installation:
    """``npm install <package>@<version>`` into ``cache/<agent>-<version>`` (kept for next time)."""
    spec, version = candidate.spec, candidate.version
    prefix = cache / f"{spec.name}-{version}"
    found = launch.find(spec, version, prefix / "node_modules")
    if found is None:
        prefix.mkdir(parents=True, exist_ok=True)
        run_npm(npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
             f"{spec.npm_package}@{version}")
        found = launch.find(spec, version, prefix / "node_modules")
    if found is None:
        raise CommandError(f"npm installed {spec.npm_package}@{version} into {prefix} but no `{spec.bin}` "
                           "binary is there: the package layout changed; update agent.toml")
    return found


def link_folder(installations: Iterable[launch.Installation], folder: Path) -> Path:
    """A node_modules-like folder holding exactly these installations (as symlinks), so one
    suite run sees them and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    for inst in installations:
        link = folder / f"{inst.package.rsplit('/', 1)[-1]}-{inst.version}"
        if not link.exists():
            link.symlink_to(inst.directory, target_is_directory=True)
    return folder


def check(node_modules: Path, agents: Sequence[str], *, timeout: float = CHECK_TIMEOUT,
          keep_report: Path | None = None) -> list[Row]:
    """Run the suite's config-compatibility checks on the CLIs in ``node_modules``; one row per
    agent version, each cell what the check measured (``not measured`` when it could not run).
    ``keep_report``: also keep the run's ``--conformance-report`` there, for the HTML page
    (``gateway-conformance report --results``), whose version matrix is drawn from it."""
    with tempfile.TemporaryDirectory(prefix="gwc-canary-") as scratch:
        report = Path(scratch) / "results.json"
        selection = f"{MATRIX_TEST} and ({' or '.join(map(registry.canonical, agents))})"
        argv = [sys.executable, "-m", "pytest", "--conformance", "-p", "no:cacheprovider", "-q",
                "-o", "addopts=", str(suite_dir() / "test_agents_e2e.py"), "-k", selection,
                "--conformance-report", str(report)]
        env = {**os.environ, launch.NODE_MODULES_ENV: str(node_modules)}
        try:
            subprocess.run(argv, cwd=scratch, env=env, timeout=timeout, check=False,
                           stdout=2, stderr=2)  # the run's progress on stderr; stdout is the matrix
        except subprocess.TimeoutExpired:
            raise CommandError(f"the compatibility checks took over {timeout:.0f}s: a CLI hangs; run them "
                               "with `pytest --conformance -k config_compatibility` to see which") from None
        if not report.is_file():
            raise CommandError("the compatibility checks wrote no results: run `pytest --conformance -k "
                               "config_compatibility` to see why")
        if keep_report is not None:
            shutil.copyfile(report, keep_report)
        return rows_from_report(json.loads(report.read_text(encoding="utf-8")))


def rows_from_report(report: dict[str, object]) -> list[Row]:
    """Matrix rows from a ``--conformance-report`` document's config-compatibility results."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    details: dict[tuple[str, str], str] = {}
    for result in report.get("results", []):  # type: ignore[union-attr]
        facts = (result.get("evidence") or {}).get("facts") or {}
        if MATRIX_TEST not in result.get("nodeid", "") or not result.get("agent_version"):
            continue
        key = (result["agent"], result["agent_version"])
        works = facts.get("works")
        verdict = "not measured" if works is None else "pass" if works == "yes" else "fail"
        cells.setdefault(key, {})[result.get("config") or "?"] = verdict
        if verdict == "fail" and (summary := (result.get("evidence") or {}).get("summary")):
            details[key] = str(summary).splitlines()[0][:160]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    node = _node_version()
    return [Row(agent=registry.canonical(agent), version=version,
                documented=c.get("documented", "not measured"),
                generated=c.get("generated", "not measured"), measured_at=now, node=node,
                detail=details.get((agent, version), ""))
            for (agent, version), c in cells.items()]


def _node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=20,
                              check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


@dataclass(frozen=True)
class CanaryResult:
    rows: list[Row]
    new: set[tuple[str, str]]  # (agent, version) not in the results file before

    @property
    def failed(self) -> list[Row]:
        """Rows whose generated config did not pass: the harness's own configs must work."""
        return [row for row in self.rows if row.generated != "pass"]


def run_canary(specs: Sequence[AgentSpec], *, last: int, known: Iterable[Row], npm: str = "npm",
               cache: Path | None = None,
               checker: Callable[[Path, Sequence[str]], list[Row]] | None = None) -> CanaryResult:
    """Newest ``last`` published versions of each agent: installed, checked (default:
    :func:`check`), marked new when the results file has not seen them."""
    cache = cache or canary_cache()
    checker = checker or check
    candidates = [Candidate(spec, v) for spec in specs for v in published_versions(spec, npm)[-last:]]
    if not candidates:
        raise CommandError("npm lists no stable version of the agents asked for")
    installed = [install(c, cache, npm) for c in candidates]
    with tempfile.TemporaryDirectory(prefix="run-", dir=_ensure(cache)) as run_dir:
        rows = checker(link_folder(installed, Path(run_dir) / "node_modules"), [s.name for s in specs])
    seen = {row.key for row in known}
    return CanaryResult(rows, {row.key for row in rows if row.key not in seen})


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
