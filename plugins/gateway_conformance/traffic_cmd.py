"""``gateway-conformance record | replay | new-agent``: recorded agent traffic from the shell.

Tokens come from an environment variable (``--token-env``), never from argv, so the
command line stored in a cassette (``meta.rerecord``) can never hold a secret.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx

from gateway_conformance.resources import data_dir
from gateway_conformance.server import ServerHandle
from gateway_conformance.traffic.cassette import Cassette, CassetteError, Metadata, iter_cassettes
from gateway_conformance.traffic.record import recording
from gateway_conformance.traffic.redact import SecretRemains
from gateway_conformance.traffic.replay import mount, replay_as_client
from gateway_conformance.traffic.scaffold import (
    AgentFolderError,
    agent_folders,
    load_agent,
    new_agent,
)

TOKEN_ENV = "GATEWAY_CONFORMANCE_TOKEN"
# What a recorded command reads to find the proxy: the surface base URL and the gateway root.
BASE_URL_ENV = "GATEWAY_CONFORMANCE_BASE_URL"
GATEWAY_URL_ENV = "GATEWAY_CONFORMANCE_GATEWAY_URL"


def _default_agents_dir() -> Path:
    return data_dir() / "agents"


def _prefixes() -> dict[str, str]:
    from gateway_conformance.gateway.app import default_surfaces
    return {s.name: s.prefix for s in default_surfaces()}


@contextlib.contextmanager
def _upstream(spec: str, token_env: str) -> Iterator[tuple[str, str | None]]:
    """(gateway root URL, token): ``mock`` starts the embedded mock with a fresh token."""
    if spec != "mock":
        yield spec.rstrip("/"), os.environ.get(token_env)
        return
    from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
    token = new_token()
    with ServerHandle(create_gateway(GatewayConfig(tokens={token: "recorder"})), name="gateway") as srv:
        yield srv.url, token


# ---- record ------------------------------------------------------------------------------------

def _record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", required=True, help="agent folder name (holds agent.toml)")
    parser.add_argument("--upstream", default="mock", metavar="URL",
                        help="gateway root to record against, or 'mock' (default: the embedded mock)")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="cassette file (default: <agents-dir>/<agent>/cassettes/<name>.json)")
    parser.add_argument("--name", default="session", help="cassette name (default: session)")
    parser.add_argument("--agents-dir", type=Path, default=None, metavar="DIR",
                        help="folder of agent folders (default: the shipped fixtures/agents)")
    parser.add_argument("--token-env", default=TOKEN_ENV, metavar="NAME",
                        help=f"variable holding the upstream's token (default {TOKEN_ENV}); with "
                             "--upstream mock it is set for the command")
    parser.add_argument("--fault", type=int, action="append", default=[], metavar="STATUS",
                        help="make the upstream mock fail the next generation once with STATUS "
                             "(e.g. 429) via its admin route; repeatable; marked injected_fault")
    parser.add_argument("--script", type=Path, default=None, metavar="JSON",
                        help="queue these turns (a JSON list, the mock's /_admin/script format) in the "
                             "upstream mock first, e.g. a tool call for a tool-use round trip")
    parser.add_argument("--agent-version", default="unknown", help="recorded in the cassette metadata")
    parser.add_argument("--description", default="", help="what the session does")
    parser.add_argument("--synthetic", action="store_true", help="mark the cassette synthetic")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the command may run")
    parser.add_argument("--no-redact", dest="redact", action="store_false",
                        help="keep headers and bodies as sent (a cassette with any secret left is "
                             "still refused)")
    parser.add_argument("--prompt", default=None,
                        help="instead of a COMMAND: launch the agent's real CLI (from node_modules) once "
                             "on PROMPT, its config rendered to point at the proxy")
    parser.add_argument("--tools", action="store_true", help="with --prompt: let the CLI run tools")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND...",
                        help="the agent invocation; it finds the proxy in $" + BASE_URL_ENV)


def _run_record(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and args.prompt is None:
        print("record: give --prompt (real CLI) or the command to run after --", file=sys.stderr)
        return 2
    agents_dir = args.agents_dir or _default_agents_dir()
    try:
        agent = load_agent(agents_dir / args.agent)
    except AgentFolderError as exc:
        print(f"record: {exc} (create it with `gateway-conformance new-agent`)", file=sys.stderr)
        return 2
    out = args.out or agent.path / "cassettes" / f"{args.name}.json"
    with _upstream(args.upstream, args.token_env) as (root, token):
        for status in args.fault:
            _admin(root, token, "faults", {"status": status})
        if args.script:
            _admin(root, token, "script", json.loads(args.script.read_text(encoding="utf-8")))
        with recording(root, injected_statuses=args.fault,
                       on_interaction=lambda i: print(
                           f"recorded {i.request.method} {i.request.path} -> {i.response.status}",
                           file=sys.stderr)) as (proxy, handle):
            env = {**os.environ, BASE_URL_ENV: handle.url + _prefixes()[agent.surface],
                   GATEWAY_URL_ENV: handle.url}
            if token is not None:
                env[args.token_env] = token
            try:
                if command:
                    rc = subprocess.run(command, env=env, timeout=args.timeout, check=False).returncode
                else:
                    rc, args.agent_version = _launch(args, handle.url, env)
            except (OSError, subprocess.TimeoutExpired, LookupError) as exc:
                print(f"record: {exc}", file=sys.stderr)
                return 2
            rerecord = _rerecord_command(args, command)
            meta = Metadata(agent=agent.name, surface=agent.surface, agent_version=args.agent_version,
                            recorded_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            synthetic=args.synthetic, rerecord=rerecord, description=args.description)
            try:
                cassette = proxy.cassette(meta, known_secrets=[token] if token else [], redact=args.redact)
            except SecretRemains as exc:
                print(f"record: {exc}", file=sys.stderr)
                return 1
    if rc != 0:
        print(f"record: the command exited {rc}; cassette not saved", file=sys.stderr)
        return rc
    if not cassette.interactions:
        print(f"record: the command sent nothing to ${BASE_URL_ENV}; cassette not saved", file=sys.stderr)
        return 1
    cassette.save(out)
    print(f"wrote {out} ({len(cassette.interactions)} interactions)")
    return 0


def _rerecord_command(args: argparse.Namespace, command: list[str]) -> str:
    """The command line that records this cassette again (never holds a token: see --token-env)."""
    return shlex.join(["gateway-conformance", "record", "--agent", args.agent,
                      *(["--agents-dir", str(args.agents_dir)] if args.agents_dir else []),
                      *(["--upstream", args.upstream] if args.upstream != "mock" else []),
                      "--name", args.name, *(f"--fault={s}" for s in args.fault),
                      *(["--script", str(args.script)] if args.script else []),
                      *(["--agent-version", args.agent_version] if args.agent_version != "unknown"
                        else []),
                      *(["--synthetic"] if args.synthetic else []),
                      *(["--prompt", args.prompt] if args.prompt is not None else []),
                      *(["--tools"] if args.tools else []),
                      *(["--", *command] if command else [])])


def _launch(args: argparse.Namespace, proxy_url: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the agent's real CLI once, in a throwaway HOME, its config rendered (by the agent's
    own renderer) to point at the proxy. Returns (exit status, CLI version)."""
    import tempfile
    from unittest import mock

    from gateway_conformance.agents import launch, registry
    from gateway_conformance.agents.profile import TargetProfile

    agent = registry.get(args.agent)
    inst = (launch.newest(agent.spec) if args.agent_version == "unknown"
            else launch.find(agent.spec, args.agent_version))
    if inst is None:
        raise LookupError(f"{args.agent} {args.agent_version} is not installed in node_modules (npm ci)")
    profile = TargetProfile(gateway_url=proxy_url, token_env=args.token_env)
    with tempfile.TemporaryDirectory(prefix="gwc-record-") as scratch:
        home, work = Path(scratch) / "home", Path(scratch) / "work"
        with mock.patch.dict(os.environ, {args.token_env: env.get(args.token_env, "")}):
            rendered = agent.render(profile, agent_version=inst.version, as_documented=False)
        rendered.write(home)
        run = launch.run_agent(agent.spec, inst, rendered, args.prompt, home=home, workdir=work,
                               timeout=args.timeout, allow_tools=args.tools, environ=env)
    print(run.describe(1500), file=sys.stderr)
    return (run.returncode if run.returncode is not None else 124), inst.version


def _admin(root: str, token: str | None, route: str, body: object) -> None:
    """Steer the upstream mock (embedded or `serve`) through its admin routes."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = httpx.post(f"{root}/_admin/{route}", json=body, headers=headers, timeout=10)
    if resp.status_code != 200:
        raise SystemExit(f"record: upstream refused /_admin/{route} ({resp.status_code}): is it the mock?")


# ---- replay ------------------------------------------------------------------------------------

def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cassettes", nargs="*", type=Path, metavar="CASSETTE",
                        help="cassette files or agent folders (default: every shipped cassette)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--target", metavar="URL", help="replay as a client against this gateway root")
    mode.add_argument("--serve", action="store_true",
                      help="replay as a server: the mock gateway answering with the cassettes")
    parser.add_argument("--token-env", default=TOKEN_ENV, metavar="NAME",
                        help=f"variable holding the target's token (default {TOKEN_ENV})")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="with --serve: timing divided by this; 0 means no waiting (default 1)")
    parser.add_argument("--port", type=int, default=0, help="with --serve: port (default: any free one)")


def _cassettes(paths: list[Path]) -> list[Cassette]:
    files: list[Path] = []
    if not paths:
        files = [f for a in agent_folders([_default_agents_dir()]) for f in a.cassettes]
    for path in paths:
        files += list(iter_cassettes(path)) if path.is_dir() else [path]
    return [Cassette.load(f) for f in files]


def _run_replay(args: argparse.Namespace) -> int:
    try:
        cassettes = _cassettes(args.cassettes)
    except CassetteError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if args.serve:
        return _serve(cassettes, args)
    if not args.target:
        print("replay: give --target URL (client) or --serve (server)", file=sys.stderr)
        return 2
    token = os.environ.get(args.token_env)
    errors = 0
    for cassette in cassettes:
        result = replay_as_client(cassette, args.target, token=token)
        print(result.report())
        errors += len(result.errors)
    return 1 if errors else 0


def _serve(cassettes: list[Cassette], args: argparse.Namespace) -> int:
    from gateway_conformance.gateway.app import GatewayConfig, create_gateway
    token = os.environ.get(args.token_env)
    if not token:
        print(f"replay --serve: set the token clients must send in ${args.token_env}", file=sys.stderr)
        return 2
    core = create_gateway(GatewayConfig(tokens={token: "replay"}))
    mount(core, cassettes, speed=math.inf if args.speed == 0 else args.speed)
    with ServerHandle(core, port=args.port, name="replay") as srv:
        print(f"replaying {len(cassettes)} cassettes on {srv.url} (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


# ---- new-agent ---------------------------------------------------------------------------------

def _new_agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="folder name: lower case, digits, '_'")
    parser.add_argument("--surface", required=True, choices=("anthropic", "openai", "cursor", "gemini"),
                        help="the protocol the agent speaks")
    parser.add_argument("--dir", type=Path, default=None, metavar="DIR",
                        help="folder of agent folders (default: the shipped fixtures/agents)")


def _run_new_agent(args: argparse.Namespace) -> int:
    root = args.dir or _default_agents_dir()
    try:
        agent = new_agent(args.name, args.surface, root)
    except AgentFolderError as exc:
        print(f"new-agent: {exc}", file=sys.stderr)
        return 2
    dir_flag = f" --agents-dir {shlex.quote(str(root))}" if args.dir else ""
    print(f"created {agent.path}/agent.toml and {agent.path}/cassettes/\n"
          f"next: gateway-conformance record --agent {agent.name}{dir_flag} --name plain -- "
          f"<command that reads ${BASE_URL_ENV}>\n"
          f"then: pytest --conformance{' --agents-dir ' + shlex.quote(str(root)) if args.dir else ''}")
    return 0


record = SimpleNamespace(add_arguments=_record_arguments, run=_run_record)
replay = SimpleNamespace(add_arguments=_replay_arguments, run=_run_replay)
new_agent_command = SimpleNamespace(add_arguments=_new_agent_arguments, run=_run_new_agent)
