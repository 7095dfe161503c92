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
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx

from gateway_conformance.cli_errors import CommandError, port, positive_or_zero
from gateway_conformance.resources import data_dir
from gateway_conformance.roster import SURFACES, agent_name
from gateway_conformance.server import ServerHandle
from gateway_conformance.traffic.cassette import Cassette, CassetteError, Metadata, iter_cassettes
from gateway_conformance.traffic.record import recording
from gateway_conformance.traffic.redact import SecretRemains
from gateway_conformance.traffic.replay import mount, replay_as_client
from gateway_conformance.traffic.scaffold import (
    AgentFolderError,
    agent_folder,
    agent_folders,
    default_agents_dir,
    load_agent,
    new_agent,
)

TOKEN_ENV = "GATEWAY_CONFORMANCE_TOKEN"
ADMIN_TOKEN_ENV = "GATEWAY_CONFORMANCE_ADMIN_TOKEN"
# What a recorded command reads to find the proxy: the surface base URL and the gateway root.
BASE_URL_ENV = "GATEWAY_CONFORMANCE_BASE_URL"
GATEWAY_URL_ENV = "GATEWAY_CONFORMANCE_GATEWAY_URL"


def _shipped_agents_dir() -> Path:
    return data_dir() / "agents"


def _display_path(path: Path) -> str:
    """A path as stored in ``meta.rerecord``: relative to the working folder, never absolute
    (a cassette is shared; the recorder's own folders mean nothing elsewhere)."""
    return path.as_posix() if not path.is_absolute() else Path(os.path.relpath(path)).as_posix()


def _display_word(word: str) -> str:
    """A word of the recorded command: an absolute path under the working folder becomes
    relative, a program found on PATH by its name becomes that name."""
    if not os.path.isabs(word):
        return word
    path = Path(word)
    if path.is_relative_to(Path.cwd()):
        return _display_path(path)
    found = shutil.which(path.name)
    return path.name if found and Path(found).resolve() == path.resolve() else word


def _prefixes() -> dict[str, str]:
    from gateway_conformance.gateway.app import default_surfaces
    return {s.name: s.prefix for s in default_surfaces()}


@contextlib.contextmanager
def _upstream(spec: str, token_env: str, admin_token_env: str,
              ) -> Iterator[tuple[str, str | None, str | None]]:
    """(gateway root URL, model token, admin token): ``mock`` starts the embedded mock with
    fresh tokens; a URL takes both from the environment (never from argv)."""
    if spec != "mock":
        yield spec.rstrip("/"), os.environ.get(token_env), os.environ.get(admin_token_env)
        return
    from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
    token = new_token()
    core = create_gateway(GatewayConfig(tokens={token: "recorder"}))
    with ServerHandle(core, name="gateway") as srv:
        yield srv.url, token, core.admin_token.reveal()


# ---- record ------------------------------------------------------------------------------------

def _record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", required=True, help="agent folder name (holds agent.toml)")
    parser.add_argument("--upstream", default="mock", metavar="URL",
                        help="gateway root to record against, or 'mock' (default: the embedded mock)")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="cassette file (default: <agents-dir>/<agent>/cassettes/<name>.json)")
    parser.add_argument("--name", default="session", help="cassette name (default: session)")
    parser.add_argument("--agents-dir", type=Path, default=None, metavar="DIR",
                        help="folder of agent folders (default: ./agents, or fixtures/agents at the "
                             "root of a source checkout; never the installed package)")
    parser.add_argument("--token-env", default=TOKEN_ENV, metavar="NAME",
                        help=f"variable holding the upstream's token (default {TOKEN_ENV}); with "
                             "--upstream mock it is set for the command")
    parser.add_argument("--admin-token-env", default=ADMIN_TOKEN_ENV, metavar="NAME",
                        help=f"variable holding a `serve` upstream's admin token, for --fault and --script "
                             f"(default {ADMIN_TOKEN_ENV}; serve --json prints it as admin_token)")
    parser.add_argument("--fault", type=int, action="append", default=[], metavar="STATUS",
                        help="make the upstream mock fail the next generation once with STATUS "
                             "(e.g. 429) via its admin route; repeatable; marked injected_fault")
    parser.add_argument("--script", type=Path, default=None, metavar="FILE.json",
                        help="queue the turns in this file (a JSON list, the mock's /_admin/script format) "
                             "in the upstream mock first, e.g. a tool call for a tool-use round trip")
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
        raise SystemExit("give --prompt (real CLI) or the command to run after --")
    agents_dir = args.agents_dir or default_agents_dir()
    folder = agent_folder(agents_dir, args.agent)  # claude-code or claude_code
    if not (folder / "agent.toml").is_file():
        raise CommandError(f"no agent folder {folder} (agent.toml): scaffold it with "
                           f"`gateway-conformance new-agent {args.agent} --surface SURFACE"
                           f"{' --dir ' + shlex.quote(str(agents_dir)) if args.agents_dir else ''}`"
                           " or give --agents-dir DIR")
    try:
        agent = load_agent(folder)
    except AgentFolderError as exc:
        raise CommandError(f"{exc}; fix the file (CONTRIBUTING.md explains its fields)") from None
    script = _read_script(args.script) if args.script else None
    out = args.out or agent.path / "cassettes" / f"{args.name}.json"
    with _upstream(args.upstream, args.token_env, args.admin_token_env) as (root, token, admin_token):
        for status in args.fault:
            _admin(root, admin_token, args.admin_token_env, "faults", {"status": status})
        if script is not None:
            _admin(root, admin_token, args.admin_token_env, "script", script)
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
                raise SystemExit(str(exc)) from None
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


def _read_script(path: Path) -> object:
    """The ``--script`` turns: a JSON list in the mock's ``/_admin/script`` format."""
    try:
        turns = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"--script {path}: cannot read it ({exc.strerror}); give a JSON file of "
                           'turns, e.g. [{"text": "Hello."}]') from None
    except ValueError as exc:
        raise CommandError(f"--script {path}: not JSON ({exc}); give a JSON list of turns, "
                           'e.g. [{"text": "Hello."}]') from None
    if not isinstance(turns, list):
        raise CommandError(f"--script {path}: a JSON list of turns is needed, e.g. "
                           '[{"text": "Hello."}], not a ' + type(turns).__name__)
    return turns


def _rerecord_command(args: argparse.Namespace, command: list[str]) -> str:
    """The command line that records this cassette again (never holds a token: see --token-env;
    never an absolute local path: see :func:`_display_path`)."""
    return shlex.join(["gateway-conformance", "record", "--agent", agent_name(args.agent),
                      *(["--agents-dir", _display_path(args.agents_dir)] if args.agents_dir else []),
                      *(["--upstream", args.upstream] if args.upstream != "mock" else []),
                      "--name", args.name, *(f"--fault={s}" for s in args.fault),
                      *(["--script", _display_path(args.script)] if args.script else []),
                      *(["--agent-version", args.agent_version] if args.agent_version != "unknown"
                        else []),
                      *(["--synthetic"] if args.synthetic else []),
                      *(["--prompt", args.prompt] if args.prompt is not None else []),
                      *(["--tools"] if args.tools else []),
                      *(["--", *map(_display_word, command)] if command else [])])


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


def _admin(root: str, admin_token: str | None, admin_token_env: str, route: str, body: object) -> None:
    """Steer the upstream mock (embedded or `serve`) through its admin routes."""
    if not admin_token:
        raise CommandError(f"--fault and --script steer the upstream through its admin routes: put the "
                           f"admin token `serve --json` printed (admin_token) in ${admin_token_env}")
    headers = {"authorization": f"Bearer {admin_token}"}
    resp = httpx.post(f"{root}/_admin/{route}", json=body, headers=headers, timeout=10)
    if resp.status_code in (401, 403):
        raise CommandError(f"the upstream refused POST /_admin/{route} with {resp.status_code}: "
                           f"${admin_token_env} must hold the admin token `serve --json` printed "
                           f"(admin_token)")
    if resp.status_code != 200:
        raise CommandError(f"the upstream refused POST /_admin/{route} with {resp.status_code}: --fault and "
                           "--script need the mock gateway as upstream (--upstream mock or a `serve` URL)")


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
    parser.add_argument("--speed", type=positive_or_zero, default=1.0,
                        help="with --serve: timing divided by this; 0 means no waiting (default 1)")
    parser.add_argument("--port", type=port, default=0, help="with --serve: port (default: any free one)")


def _cassettes(paths: list[Path]) -> list[Cassette]:
    """The cassettes to replay; a named folder without any is an error, never skipped quietly."""
    files: list[Path] = []
    if not paths:
        files = [f for a in agent_folders([_shipped_agents_dir()]) for f in a.cassettes]
    for path in paths:
        if not path.exists():
            raise CommandError(f"{path} does not exist: give cassette files or agent folders")
        found = list(iter_cassettes(path)) if path.is_dir() else [path]
        if not found:
            raise CommandError(f"{path} holds no cassettes (cassettes/*.json): record one with "
                               "`gateway-conformance record`")
        files += found
    return [Cassette.load(f) for f in files]


def _reachable(root: str) -> None:
    """One line, before any replay, when nothing answers at ``root`` (not one per request)."""
    try:
        httpx.get(root, timeout=10)
    except httpx.HTTPError as exc:
        raise CommandError(f"nothing answers at {root} ({exc}): start the gateway or fix --target") from None


def _run_replay(args: argparse.Namespace) -> int:
    try:
        cassettes = _cassettes(args.cassettes)
    except CassetteError as exc:
        raise SystemExit(str(exc)) from None
    if args.serve:
        return _serve(cassettes, args)
    if not args.target:
        print("replay: give --target URL (client) or --serve (server)", file=sys.stderr)
        return 2
    token = os.environ.get(args.token_env)
    if not token:
        raise CommandError(f"set ${args.token_env} to the token the gateway at {args.target} accepts "
                           "(--token-env names another variable); tokens never come from argv")
    _reachable(args.target)
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
    parser.add_argument("name", help="the agent's name and folder: lower case, digits, '-'")
    parser.add_argument("--surface", required=True, choices=SURFACES,
                        help="the protocol the agent speaks")
    parser.add_argument("--dir", type=Path, default=None, metavar="DIR",
                        help="folder of agent folders (default: ./agents, or fixtures/agents at the root "
                             "of a source checkout; never the installed package)")


def _run_new_agent(args: argparse.Namespace) -> int:
    root = args.dir or default_agents_dir()
    try:
        agent = new_agent(args.name, args.surface, root)
    except AgentFolderError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot create {root / args.name} ({exc.strerror}): give --dir a folder "
                           "you can write") from None
    shipped = root.resolve() == _shipped_agents_dir().resolve()
    record_flag = "" if root == default_agents_dir() else f" --agents-dir {shlex.quote(str(root))}"
    pytest_flag = "" if shipped else f" --agents-dir {shlex.quote(str(root))}"
    print(f"created {agent.path}/agent.toml and {agent.path}/cassettes/\n"
          f"next: gateway-conformance record --agent {agent.name}{record_flag} --name plain -- "
          f"<command that reads ${BASE_URL_ENV}>\n"
          f"then: pytest --conformance{pytest_flag} -k {agent.name}")
    return 0


record = SimpleNamespace(add_arguments=_record_arguments, run=_run_record)
replay = SimpleNamespace(add_arguments=_replay_arguments, run=_run_replay)
new_agent_command = SimpleNamespace(add_arguments=_new_agent_arguments, run=_run_new_agent)
