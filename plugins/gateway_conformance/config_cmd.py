"""``gateway-conformance config AGENT --home DIR``: write an agent's gateway config into a HOME.

The token is read from an environment variable (``--token-env``, default DATABRICKS_TOKEN),
never from the command line, and is printed only as a ``$VAR`` reference. The layout
follows the version the person will run: ``--agent-version``, else the binary found on
``PATH`` under the agent's name, else the newest one in the agents' ``node_modules``, else
the newest layout known; the printed ``run:`` line names that exact binary (a bare ``codex``
could be another version, one the layout does not fit). ``--as-documented`` writes the
documentation's layout verbatim.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gateway_conformance.agents import launch, registry
from gateway_conformance.agents.base import Agent
from gateway_conformance.agents.profile import DEFAULT_TOKEN_ENV, ProfileError, TargetProfile
from gateway_conformance.cli_errors import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", type=registry.canonical, choices=registry.names())
    parser.add_argument("--home", required=True, type=Path, help="the HOME folder to write into")
    parser.add_argument("--gateway-url", required=True, metavar="URL",
                        help="the gateway root, e.g. https://<ai-gateway-url> (surface paths are added)")
    parser.add_argument("--workspace-url", metavar="URL", help="workspace root, for telemetry")
    parser.add_argument("--token-env", default=DEFAULT_TOKEN_ENV, metavar="NAME",
                        help=f"variable holding the token (default {DEFAULT_TOKEN_ENV})")
    parser.add_argument("--model", help="model (endpoint) name; default: the documented one")
    parser.add_argument("--uc-catalog", "--catalog", dest="catalog", default="main",
                        help="Unity Catalog catalog of the telemetry tables (default main)")
    parser.add_argument("--uc-schema", "--schema", dest="schema", default="otel",
                        help="Unity Catalog schema of the telemetry tables (default otel, as `serve` and "
                             "the suite use)")
    parser.add_argument("--table-prefix", default="coding_agents")
    parser.add_argument("--telemetry", action="store_true", help="add the OTLP telemetry settings")
    parser.add_argument("--as-documented", action="store_true",
                        help="the documentation's layout exactly, whatever the agent version")
    parser.add_argument("--agent-version", metavar="V",
                        help="render for this version of the agent (default: the one on PATH)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite files that exist with other content (e.g. your own settings.json)")


def _binary(agent: Agent, version: str | None) -> tuple[str | None, list[str] | None, str]:
    """(version to render for, argv prefix that runs exactly it or None, where it was found)."""
    spec = agent.spec
    if not spec.runnable:
        return version, None, "no CLI"
    found = launch.on_path(spec)
    if found is not None and version in (None, found[1].version):
        exe, inst = found
        return inst.version, [str(exe)], f"{exe} on PATH"
    inst = launch.newest(spec) if version is None else launch.find(spec, version)
    if inst is not None:
        return inst.version, inst.command(), f"{inst.directory}"
    if version is not None:
        return version, None, "not installed here"
    return None, None, "not on PATH, not installed"


def run(args: argparse.Namespace) -> int:
    agent = registry.get(args.agent)
    version, command, found_at = _binary(agent, args.agent_version)
    home = args.home.expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise CommandError(f"--home {args.home} is a file: give a folder (it is created when missing)")
    models = {args.agent: args.model} if args.model else {}
    try:
        profile = TargetProfile(gateway_url=args.gateway_url, workspace_url=args.workspace_url,
                                token_env=args.token_env, models=models, catalog=args.catalog,
                                schema=args.schema, table_prefix=args.table_prefix,
                                telemetry=args.telemetry)
        rendered = agent.render(profile, agent_version=version, as_documented=args.as_documented)
    except ProfileError as exc:
        raise SystemExit(str(exc)) from None
    clashes = [home / f.path for f in rendered.files
               if (home / f.path).exists() and (home / f.path).read_text(encoding="utf-8") != f.content]
    if clashes and not args.force:
        print("error: these files exist with other content (they may hold your own settings); "
              "merge by hand or pass --force:\n" + "\n".join(f"  {p}" for p in clashes), file=sys.stderr)
        return 1
    written = rendered.write(home)
    print(f"# {agent.spec.display_name} {version or '(version unknown: newest layout)'} ({found_at}), "
          f"{rendered.layout} layout, written to {home}:")
    for item, path in zip(rendered.files, written, strict=True):
        print(f"#   {path}  ({oct(item.mode)[2:]}{', holds the token' if item.secret else ''})")
    for line in rendered.export_lines():
        print(line)
    if rendered.steps:
        print("# then, by hand:")
        print("\n".join(f"#   {n}. {step}" for n, step in enumerate(rendered.steps, 1)))
    if agent.spec.runnable:
        args_tail = agent.spec.argv("<prompt>", rendered)
        if command is None:
            print(f"# {agent.spec.display_name} {version or ''} is not installed here: "
                  "`gateway-conformance agents install` installs the pinned versions, or "
                  f"npm install {agent.spec.npm_package}@{version or 'latest'}")
            command = [agent.spec.bin or ""]
        print(f"# run: HOME={shlex.quote(str(home))} {shlex.join([*command, *args_tail])}")
    return 0
