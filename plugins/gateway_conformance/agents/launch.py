"""Find the agent CLIs installed in ``node_modules`` and run one, fenced in.

Several versions of one CLI sit side by side under npm aliases (``codex-0.133.0``); an
installation is recognised by the real package name inside its ``package.json``, whatever
the folder is called. A run gets a throwaway HOME and working folder, an environment built
from nothing (so no real key of the person running the suite can leak into an agent), its
own background traffic switched off, a time bound after which its whole process group is
killed, and its output captured.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway_conformance.agents.base import AgentSpec, RenderedConfig, parse_version
from gateway_conformance.resources import data_dir

NODE_MODULES_ENV = "GATEWAY_CONFORMANCE_NODE_MODULES"
INSTALL_COMMAND = "gateway-conformance agents install"
DEFAULT_TIMEOUT = 90.0
# Passed through from the caller's environment: nothing that could carry a credential.
PASSTHROUGH = ("LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")


def agents_cache() -> Path:
    """Where ``gateway-conformance agents install`` puts the pinned CLIs when
    ``$GATEWAY_CONFORMANCE_NODE_MODULES`` does not say: a per-user cache folder, outside any
    project (a wheel user has no checkout to run ``npm ci`` in) and never npm's global one."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gateway-conformance" / "agents" / "node_modules"


def default_node_modules() -> Path:
    """``$GATEWAY_CONFORMANCE_NODE_MODULES``, else ``./node_modules``, else the checkout's,
    else the cache ``agents install`` fills."""
    if os.environ.get(NODE_MODULES_ENV):
        return Path(os.environ[NODE_MODULES_ENV])
    for candidate in (Path.cwd() / "node_modules", data_dir().parent / "node_modules", agents_cache()):
        if candidate.is_dir():
            return candidate
    return agents_cache()


def install_hint(root: Path | None = None) -> str:
    """What a skip or a listing tells a person with no CLI installed."""
    return (f"run `{INSTALL_COMMAND}` (the pinned CLIs, into {agents_cache()}), `npm ci` in a checkout, "
            f"or point ${NODE_MODULES_ENV} at a node_modules folder that holds them"
            + (f" (looked in {root})" if root is not None else ""))


@dataclass(frozen=True)
class Installation:
    """One installed version of an agent CLI."""

    package: str
    version: str
    directory: Path
    bin_path: Path

    @property
    def alias(self) -> str:
        return self.directory.name

    def command(self) -> list[str]:
        """How to execute it: a native binary directly, a JavaScript entry through node."""
        with self.bin_path.open("rb") as handle:
            native = handle.read(4) == b"\x7fELF"
        if native:
            return [str(self.bin_path)]
        node = shutil.which("node")
        if node is None:
            raise FileNotFoundError("node is not on PATH")
        return [node, str(self.bin_path)]


def _read_installation(directory: Path, bin_name: str | None) -> Installation | None:
    try:
        meta = json.loads((directory / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    bins = meta.get("bin") or {}
    if isinstance(bins, str):
        bins = {meta.get("name", "").rsplit("/", 1)[-1]: bins}
    target = bins.get(bin_name) if bin_name else None
    if not target or "name" not in meta or "version" not in meta:
        return None
    return Installation(meta["name"], meta["version"], directory, directory / target)


def on_path(spec: AgentSpec, path: str | None = None) -> tuple[Path, Installation] | None:
    """The agent's binary a person runs by its name (``codex`` on ``PATH``) and its version:
    read from the npm package the binary belongs to, else from its ``--version``."""
    if not spec.bin or (exe := shutil.which(spec.bin, path=path)) is None:
        return None
    real = Path(exe).resolve()
    for folder in real.parents:
        inst = _read_installation(folder, spec.bin)
        if inst is not None and inst.package == spec.npm_package:
            return Path(exe), inst
        if (folder / "package.json").is_file():
            break  # inside some other package: ask the binary itself
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, timeout=20, stdin=subprocess.DEVNULL,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rb"\d+\.\d+\.\d+", proc.stdout + proc.stderr)
    if proc.returncode != 0 or match is None:
        return None
    version = match.group().decode()
    return Path(exe), Installation(spec.npm_package or spec.name, version, real.parent, real)


def installations(spec: AgentSpec, node_modules: Path | None = None) -> list[Installation]:
    """Every installed version of ``spec``'s package, oldest first."""
    root = node_modules or default_node_modules()
    if not spec.npm_package or not root.is_dir():
        return []
    candidates = [p for p in root.iterdir() if not p.name.startswith((".", "@"))]
    candidates += [p for scope in root.glob("@*") for p in scope.iterdir()]
    found = [inst for p in candidates if (inst := _read_installation(p, spec.bin)) is not None
             and inst.package == spec.npm_package]
    return sorted(found, key=lambda inst: parse_version(inst.version))


def newest(spec: AgentSpec, node_modules: Path | None = None) -> Installation | None:
    found = installations(spec, node_modules)
    return found[-1] if found else None


def find(spec: AgentSpec, version: str, node_modules: Path | None = None) -> Installation | None:
    return next((i for i in installations(spec, node_modules) if i.version == version), None)


@dataclass(frozen=True)
class AgentRun:
    """A finished (or killed) run: what was launched and everything it printed."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self, limit: int = 4000) -> str:
        """For assertion messages: exit status, time and the tail of the output."""
        status = "timed out" if self.timed_out else f"exit {self.returncode}"
        return (f"{status} after {self.seconds:.1f}s\n--- stdout ---\n{self.stdout[-limit:]}"
                f"\n--- stderr ---\n{self.stderr[-limit:]}")


def scrubbed_environment(home: Path, *extra: Mapping[str, str]) -> dict[str, str]:
    """An environment built from nothing: PATH with node on it, the throwaway HOME and its XDG
    folders, locale; then ``extra`` layers in order. Nothing else of the caller's survives."""
    node = shutil.which("node")
    path_dirs = [str(Path(node).parent)] if node else []
    path_dirs += [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if d not in path_dirs]
    env = {"PATH": os.pathsep.join(path_dirs), "HOME": str(home), "USER": "gateway-conformance",
           "TERM": "dumb", "NO_COLOR": "1", "CI": "1",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_STATE_HOME": str(home / ".local" / "state")}
    env |= {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    for layer in extra:
        env |= layer
    return env


def run_agent(spec: AgentSpec, installation: Installation, rendered: RenderedConfig, prompt: str, *,
              home: Path, workdir: Path, timeout: float = DEFAULT_TIMEOUT, allow_tools: bool = False,
              environ: Mapping[str, str] | None = None) -> AgentRun:
    """Run ``installation`` once on ``prompt`` in ``workdir`` with ``home`` as HOME.

    ``rendered`` must already be written into ``home``; its token references are resolved
    from ``environ`` (default: this process's environment). stdin is closed so a CLI that
    reads extra input from a pipe sees none.
    """
    env = scrubbed_environment(home, spec.launch_env, rendered.environment(environ or os.environ))
    argv = [*installation.command(), *spec.argv(prompt, rendered, allow_tools=allow_tools)]
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr = proc.communicate()
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
    _kill_group(proc)  # helpers it left behind in its session (none should outlive it)
    return AgentRun(argv=tuple(argv), returncode=None if timed_out else proc.returncode,
                    stdout=stdout.decode("utf-8", "replace"), stderr=stderr.decode("utf-8", "replace"),
                    seconds=time.monotonic() - started, timed_out=timed_out)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def check_runnable(installation: Installation, timeout: float = 20.0) -> tuple[bool, str]:
    """Whether the CLI starts here: ``--version`` in a scratch HOME must print its version."""
    with tempfile.TemporaryDirectory(prefix="gwc-probe-") as scratch:
        home = Path(scratch)
        try:
            proc = subprocess.run([*installation.command(), "--version"], cwd=home,
                                  env=scrubbed_environment(home), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout, start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{type(exc).__name__}: {exc}"
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    if proc.returncode == 0 and installation.version in output:
        return True, output.splitlines()[0] if output else ""
    return False, f"exit {proc.returncode}: {output[-300:]}"
